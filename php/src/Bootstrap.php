<?php

declare(strict_types=1);

namespace Hover;

use Hover\Cli\CommandHandler;
use Throwable;

/**
 * Init and dispatch: native init in the extension, then the Laravel application, then the
 * handler for the function type, which serves invocations until the process ends.
 */
final class Bootstrap
{
    public static function run(): int
    {
        if (!extension_loaded('hover')) {
            fwrite(STDERR, "Hover runtime: the hover extension is not loaded (extension=libhover.so)\n");

            return 1;
        }
        try {
            $runtime = Runtime::boot();
        } catch (InitException $e) {
            return 1; // Already reported to /init/error and stderr by the extension.
        }
        try {
            self::exportEnvironment($runtime->environment());
            $handler = self::handlerFor($runtime);
        } catch (Throwable $e) {
            $runtime->reportInitError('Hover.BootstrapFailed', self::describe($e));

            return 1;
        }
        try {
            $handler->serve();
        } catch (RuntimeApiException $e) {
            return 1; // The Runtime API is gone; the extension has logged why.
        } catch (InitException $e) {
            return 1; // php-fpm never got ready: reported to /init/error by the extension.
        }

        return 0;
    }

    /**
     * The extension has set the process environment (getenv); $_ENV and $_SERVER are PHP
     * arrays, so they are filled here, before Laravel reads any of the three. PHP copied
     * the environment into $_SERVER at start-up, with the extension's restart handoff when
     * the process restarted in place; that one is the runtime's, not the application's.
     *
     * @param array<string, string> $variables
     */
    private static function exportEnvironment(array $variables): void
    {
        unset($_ENV['HOVER_RESTART_HANDOFF'], $_SERVER['HOVER_RESTART_HANDOFF']);
        foreach ($variables as $name => $value) {
            $_ENV[$name] = $value;
            $_SERVER[$name] = $value;
        }
    }

    private static function handlerFor(Runtime $runtime): Cli\CommandHandler|Http\HttpHandler|Queue\QueueHandler
    {
        $type = $runtime->functionType();
        if ($type === 'http') {
            return new Http\HttpHandler($runtime);
        }
        // CLI and queue functions run Laravel in this process, booted as artisan boots it.
        $laravel = new LaravelApplication($runtime);
        $app = $laravel->create();
        $laravel->bootstrapAndCacheConfiguration($app);
        if ($type === 'queue') {
            return new Queue\QueueHandler($runtime, $app);
        }
        $handler = new CommandHandler($runtime, $app);
        $handler->prepareForForking();

        return $handler;
    }

    private static function describe(Throwable $e): string
    {
        return sprintf('%s: %s in %s:%d', get_class($e), $e->getMessage(), $e->getFile(), $e->getLine());
    }
}
