<?php

declare(strict_types=1);

namespace Hover;

use Illuminate\Console\Application as Artisan;
use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
use Illuminate\Support\Facades\Facade;
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
     * Caches the configuration as the original runtime did, with Laravel's own
     * `config:cache` (the file goes where APP_CONFIG_CACHE points, under the storage path),
     * so that the application that serves, and every php-fpm worker, starts from the cache.
     *
     * The command builds applications of its own, which leave behind what cannot be undone
     * in-process: shutdown and error handlers, the container and facade roots, Artisan
     * bootstrappers. It therefore runs in a forked child when pcntl is there (the parent
     * stays pristine), else in-process on a throwaway application.
     */
    public function cacheConfiguration(): void
    {
        if (!function_exists('pcntl_fork')) {
            $this->runConfigCache();

            return;
        }
        [$parentEnd, $childEnd] = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        $pid = pcntl_fork();
        if ($pid === -1) {
            throw new RuntimeException('cannot fork to run config:cache: ' . pcntl_strerror(pcntl_get_last_error()));
        }
        if ($pid === 0) {
            fclose($parentEnd);
            try {
                $this->runConfigCache();
                $failure = '';
            } catch (Throwable $e) {
                $failure = $e->getMessage();
            }
            fwrite($childEnd, $failure);
            fclose($childEnd);
            exit($failure === '' ? 0 : 1);
        }
        fclose($childEnd);
        $failure = stream_get_contents($parentEnd);
        fclose($parentEnd);
        pcntl_waitpid($pid, $status);
        if (!pcntl_wifexited($status) || pcntl_wexitstatus($status) !== 0) {
            throw new RuntimeException($failure !== '' ? $failure : "config:cache died (wait status {$status})");
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

    private function runConfigCache(): void
    {
        $kernel = $this->create()->make(Kernel::class);
        $status = $kernel->call('config:cache');
        if ($status !== 0) {
            throw new RuntimeException("config:cache failed with status {$status}: " . trim($kernel->output()));
        }
        Artisan::forgetBootstrappers();
        Facade::clearResolvedInstances();
    }
}
