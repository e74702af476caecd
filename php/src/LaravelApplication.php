<?php

declare(strict_types=1);

namespace Hover;

use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
use Illuminate\Foundation\Bootstrap\BootProviders;
use Illuminate\Foundation\Bootstrap\SetRequestForConsole;
use RuntimeException;
use Throwable;

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
        require_once $this->applicationFile('vendor/autoload.php');
    }

    public function create(): Application
    {
        $app = require $this->applicationFile('bootstrap/app.php');
        if (!$app instanceof Application) {
            throw new RuntimeException("{$this->basePath}/bootstrap/app.php did not return a Laravel application");
        }
        $app->useStoragePath($this->runtime->storagePath());

        return $app;
    }

    /**
     * Bootstraps `$app` as the console does (as `config:cache` bootstraps the application
     * it caches) and caches its configuration: see cacheConfiguration().
     */
    public function bootstrapAndCacheConfiguration(Application $app): void
    {
        $this->cacheConfiguration($app, static fn () => $app->make(Kernel::class)->bootstrap());
    }

    /**
     * Bootstraps `$app` only as far as its configuration needs, and caches it: the console
     * kernel's bootstrappers up to registering the service providers (which merge their
     * packages' configuration then), without the console's request (about 5 ms of classes
     * the configuration never reads). Booting the providers is left to each request, as
     * it always is: what a provider's `boot()` puts in the configuration is put there
     * again on every request, cache or not. For a process that needs the configuration
     * cache and not the application: an HTTP function's.
     */
    public function bootstrapConfigurationAndCacheIt(Application $app): void
    {
        $this->cacheConfiguration($app, static function () use ($app): void {
            $kernel = $app->make(Kernel::class);
            $bootstrappers = (fn (): array => $this->bootstrappers())->call($kernel);
            $app->bootstrapWith(array_values(array_diff(
                $bootstrappers,
                [SetRequestForConsole::class, BootProviders::class]
            )));
        });
    }

    /**
     * Caches the configuration `$bootstrap` loads into `$app`, as the original runtime did,
     * for every later PHP process of this container (php-fpm's workers, restarts, `--env`
     * commands). A cache left by an earlier start of this container is removed first, so
     * the configuration is read from the files; a process restarted in place keeps the
     * cache its first start wrote.
     */
    private function cacheConfiguration(Application $app, callable $bootstrap): void
    {
        if (!$this->runtime->shouldCacheConfiguration()) {
            $bootstrap();

            return;
        }
        if (is_file($cached = $app->getCachedConfigPath())) {
            unlink($cached);
        }
        $bootstrap();
        try {
            $refused = (new ConfigCache($app, $this->runtime->secretNames()))->write();
        } catch (Throwable $e) {
            $refused = $e->getMessage();
        }
        if ($refused !== null) {
            // The original runtime served on without the cache; so does this one.
            $this->runtime->logWarning(
                "the configuration is not cached, the application reads it from its files: {$refused}"
            );
        }
    }

    private function applicationFile(string $path): string
    {
        $file = "{$this->basePath}/{$path}";
        if (!is_file($file)) {
            throw new RuntimeException(
                "{$file} does not exist: LAMBDA_TASK_ROOT must be a Laravel application with its dependencies"
            );
        }

        return $file;
    }
}
