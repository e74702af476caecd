<?php

declare(strict_types=1);

namespace Hover;

use Illuminate\Console\Application as Artisan;
use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
use Illuminate\Support\Facades\Facade;
use RuntimeException;

/**
 * Builds the application from the app's own vendor/autoload.php and bootstrap/app.php, with
 * its storage under the runtime's storage path (Lambda's app directory is read-only).
 */
final class LaravelApplication
{
    private string $basePath;

    public function __construct(private Runtime $runtime)
    {
        $this->basePath = $runtime->taskRoot();
        require_once $this->basePath . '/vendor/autoload.php';
    }

    public function create(): Application
    {
        $app = require $this->basePath . '/bootstrap/app.php';
        if (!$app instanceof Application) {
            throw new RuntimeException("{$this->basePath}/bootstrap/app.php did not return a Laravel application");
        }
        $app->useStoragePath($this->runtime->storagePath());

        return $app;
    }

    /**
     * Caches the configuration as the original runtime did, with Laravel's own
     * `config:cache` (the file goes where APP_CONFIG_CACHE points, under the storage path),
     * run in-process on a throwaway application so that the one that serves, and every
     * php-fpm worker, starts from the cache.
     */
    public function cacheConfiguration(): void
    {
        $app = $this->create();
        $kernel = $app->make(Kernel::class);
        $status = $kernel->call('config:cache');
        if ($status !== 0) {
            throw new RuntimeException("config:cache failed with status {$status}: " . trim($kernel->output()));
        }
        // Forget the throwaway application everywhere Laravel keeps statics.
        Artisan::forgetBootstrappers();
        Facade::clearResolvedInstances();
        $app->flush();
    }
}
