<?php

// Credentials the ways apps use them: whole, and inside a longer string.
return [
    'example' => [
        'db_password' => env('DB_PASSWORD'),
        'database_url' => env('DATABASE_URL'),
        'mail_password' => env('MAIL_PASSWORD'),
        'private_key' => env('PRIVATE_KEY'),
        'dsn' => 'pgsql://app:' . env('DB_PASSWORD') . '@db/app',
    ],
];
