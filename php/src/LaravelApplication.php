<?php

declare(strict_types=1);

namespace Hover;

use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
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
     * `config:cache`: the file goes where APP_CONFIG_CACHE points, under the storage path,
     * for every later PHP process of this container (restarts, php-fpm workers).
     *
     * The command builds applications of its own whose handlers and statics cannot be
     * undone in-process, so it runs in a fork of the bootstrapped application, which is the
     * fastest way to run it. The child ends with SIGKILL, never destructing the objects it
     * shares with the parent (a connection opened while booting would be closed under the
     * parent). Without pcntl it runs as `php artisan config:cache`, as the original did.
     */
    public function cacheConfiguration(Kernel $kernel): void
    {
        if (!function_exists('pcntl_fork') || !function_exists('posix_kill')) {
            $this->runArtisanConfigCache();

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
                $status = $kernel->call('config:cache');
                $report = $status === 0
                    ? 'ok'
                    : "config:cache failed with status {$status}: " . trim($kernel->output());
            } catch (Throwable $e) {
                $report = 'config:cache failed: ' . $e->getMessage();
            }
            fwrite($childEnd, $report);
            fclose($childEnd);
            posix_kill(posix_getpid(), SIGKILL);
        }
        fclose($childEnd);
        $report = stream_get_contents($parentEnd);
        fclose($parentEnd);
        pcntl_waitpid($pid, $status);
        if ($report !== 'ok') {
            throw new RuntimeException($report !== '' ? $report : "config:cache died (wait status {$status})");
        }
    }

    private function runArtisanConfigCache(): void
    {
        $command = [PHP_BINARY, "{$this->basePath}/artisan", 'config:cache', '--no-interaction'];
        $descriptors = [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['redirect', 1]];
        $process = proc_open($command, $descriptors, $pipes);
        $output = stream_get_contents($pipes[1]);
        $status = proc_close($process);
        if ($status !== 0) {
            throw new RuntimeException("php artisan config:cache failed with status {$status}: " . trim($output));
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
