<?php

/*
 * The example application has no Composer install: Laravel 8.83 and its dependencies come
 * from Debian's php-laravel-framework package (include_path /usr/share/php), and the App\
 * namespace is loaded from app/ the PSR-4 way.
 */

require_once 'Illuminate/autoload.php';

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'App\\', 4) !== 0) {
        return;
    }
    $file = dirname(__DIR__) . '/app/' . str_replace('\\', '/', substr($class, 4)) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
