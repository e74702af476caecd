<?php

declare(strict_types=1);

namespace Hover\Http;

use Illuminate\Contracts\Http\Kernel;
use Illuminate\Foundation\Application;
use Illuminate\Http\Request;

/**
 * What the app's public/index.php does, for php-fpm's workers, with the runtime's storage
 * path. Each step that Laravel's versions do differently is a method of its own: the
 * maintenance-mode check (storage/framework/maintenance.php since Laravel 8) and the
 * handling itself (the HTTP kernel up to Laravel 10, `Application::handleRequest()` from
 * Laravel 11, which does the same through the kernel).
 */
final class FrontController
{
    public static function handle(string $basePath, string $storagePath): void
    {
        if (!defined('LARAVEL_START')) {
            define('LARAVEL_START', microtime(true));
        }
        self::serveMaintenanceResponse($storagePath);
        require $basePath . '/vendor/autoload.php';
        $app = require_once $basePath . '/bootstrap/app.php';
        $app->useStoragePath($storagePath);
        self::handleRequest($app, Request::capture());
    }

    /**
     * `php artisan down` (Laravel 8+) writes a script that answers every request while
     * the app is down (or lets a secret bypass through); Laravel's public/index.php runs it
     * before anything else is loaded. It is written under the storage path, which is the
     * runtime's.
     */
    private static function serveMaintenanceResponse(string $storagePath): void
    {
        if (file_exists($maintenance = $storagePath . '/framework/maintenance.php')) {
            require $maintenance;
        }
    }

    private static function handleRequest(Application $app, Request $request): void
    {
        if (method_exists($app, 'handleRequest')) {
            $app->handleRequest($request); // Laravel 11 and later.

            return;
        }
        $kernel = $app->make(Kernel::class);
        $response = $kernel->handle($request)->send();
        $kernel->terminate($request, $response);
    }
}
