<?php

// Kept although the example uses no database: artisan needs the `db` binding.
return [
    'default' => env('DB_CONNECTION', 'sqlite'),
    'connections' => [
        'sqlite' => [
            'driver' => 'sqlite',
            'database' => env('DB_DATABASE', ':memory:'),
            'prefix' => '',
        ],
    ],
    'migrations' => 'migrations',
];
