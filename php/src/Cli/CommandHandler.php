<?php

declare(strict_types=1);

namespace Hover\Cli;

use Closure;
use Hover\CliInvocation;
use Hover\LaravelApplication;
use Hover\Runtime;
use Illuminate\Console\Application as Artisan;
use Illuminate\Console\Events\CommandFinished;
use Illuminate\Console\Events\CommandStarting;
use Illuminate\Console\OutputStyle;
use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
use Symfony\Component\Console\Input\ArgvInput;
use Symfony\Component\Console\Input\StringInput;
use Symfony\Component\Console\Output\ConsoleOutput;
use Symfony\Component\Console\Terminal;
use Throwable;

/**
 * The CLI function: each `{"command": "..."}` runs in a child forked from this booted
 * application, as `php artisan <command> --no-interaction 2>&1` ran in the original
 * runtime, without the boot. The extension forks, captures everything the child writes to
 * stdout and stderr, stops it at the deadline, and answers; the child runs the command and
 * exits. Nothing a command changes reaches this process or a later command.
 */
final class CommandHandler
{
    private Kernel $kernel;

    public function __construct(private Runtime $runtime, private Application $app)
    {
        $this->kernel = $app->make(Kernel::class);
        $this->kernel->bootstrap();
    }

    /**
     * Readies the booted application to be forked once per command: the Artisan
     * application is built here, once, so each command's process starts with it built and
     * untouched; connections opened while booting are closed, so that no command's exit
     * closes a connection under this process or a later command.
     */
    public function prepareForForking(): void
    {
        if ($this->runtime->hasSecrets()) {
            Artisan::starting(static function (Artisan $artisan): void {
                $artisan->add(new ConfigCacheRefused('config:cache'));
                $artisan->add(new ConfigCacheRefused('optimize'));
            });
        }
        Closure::bind(fn () => $this->getArtisan(), $this->kernel, $this->kernel::class)();
        self::settleTerminalSize();
        self::loadCommandClasses();
        if ($this->app->resolved('db')) {
            foreach (array_keys($this->app['db']->getConnections()) as $name) {
                $this->app['db']->purge($name);
            }
        }
        if ($this->app->resolved('redis')) {
            foreach (array_keys($this->app['redis']->connections() ?? []) as $name) {
                $this->app['redis']->purge($name);
            }
        }
        while (ob_get_level() > 0) {
            ob_end_flush();
        }
    }

    /**
     * Symfony's console asks `stty` for the terminal's size (two `sh -c 'stty -a | grep
     * columns'` processes, ~20 ms, per command) and caches it only when there is a terminal.
     * A command's stdin is /dev/null, where stty always fails and Symfony falls back to 80
     * columns and 50 lines: those are set here, once, as the cached size every command's
     * process inherits.
     */
    private static function settleTerminalSize(): void
    {
        Closure::bind(static function (): void {
            self::$width = 80;
            self::$height = 50;
        }, null, Terminal::class)();
    }

    /**
     * Loads the classes every command's process uses to run a command (its input, output
     * and style, the console events), so that they are compiled once, here, and not again
     * in every fork (about 5 ms a command without OPcache).
     */
    private static function loadCommandClasses(): void
    {
        $input = new ArgvInput(['artisan']);
        new StringInput('');
        $output = new ConsoleOutput();
        $output->getFormatter()->format('<info>loaded</info>');
        new OutputStyle($input, $output);
        class_exists(CommandStarting::class);
        class_exists(CommandFinished::class);
    }

    public function serve(): void
    {
        while (true) {
            $invocation = $this->runtime->nextCommand();
            if ($invocation->fork()) {
                exit($this->run($invocation));
            }
        }
    }

    /**
     * In the command's process: runs the command line as `php artisan <line>
     * --no-interaction` ran in the original runtime, with artisan's argv and its start
     * time, and returns its status.
     */
    private function run(CliInvocation $invocation): int
    {
        // What artisan and PHP set when a process starts, for this command's start.
        define('LARAVEL_START', microtime(true));
        $_SERVER['REQUEST_TIME_FLOAT'] = LARAVEL_START;
        $_SERVER['REQUEST_TIME'] = (int) LARAVEL_START;
        // A fork inherits the seed of the runtime's generator: every command would draw the
        // same numbers. Each `php artisan` was seeded afresh; so is each command's process.
        mt_srand();
        self::exportTraceId($invocation->context()->traceId());
        try {
            $argv = self::argv($invocation->command());
        } catch (Throwable $e) {
            fwrite(STDERR, $e->getMessage() . PHP_EOL);

            return 1;
        }
        $_SERVER['argv'] = $GLOBALS['argv'] = $argv;
        $_SERVER['argc'] = $GLOBALS['argc'] = count($argv);
        $kernel = self::selectsEnvironment($argv) ? $this->bootAgain() : $this->kernel;
        $input = new ArgvInput($argv);
        $input->setInteractive(false);
        $status = $kernel->handle($input, new ConsoleOutput());
        $kernel->terminate($input, $status);

        return $status;
    }

    /**
     * Artisan's argv for the command line: `--no-interaction` appended as the original
     * runtime appended it (before a `--`, after which it would be an argument).
     *
     * @return list<string>
     */
    private static function argv(string $line): array
    {
        $tokens = self::tokens($line);
        $separator = array_search('--', $tokens, true);
        array_splice($tokens, $separator === false ? count($tokens) : $separator, 0, ['--no-interaction']);

        return ['artisan', ...$tokens];
    }

    /**
     * Whether the command line picks the environment (`--env=staging`), which Laravel
     * reads from argv while it boots, as Illuminate\Foundation\EnvironmentDetector does.
     *
     * @param list<string> $argv
     */
    private static function selectsEnvironment(array $argv): bool
    {
        foreach ($argv as $argument) {
            if ($argument === '--') {
                return false;
            }
            if ($argument === '--env' || str_starts_with($argument, '--env=')) {
                return true;
            }
        }

        return false;
    }

    /**
     * A freshly booted application, for a command that picks its environment: booted in
     * this command's process with the command's argv, as `php artisan --env=…` boots.
     */
    private function bootAgain(): Kernel
    {
        $kernel = (new LaravelApplication($this->runtime))->create()->make(Kernel::class);
        $kernel->bootstrap();

        return $kernel;
    }

    /**
     * The command line's arguments, split and unquoted as Symfony's console splits a
     * command line given as a string.
     *
     * @return list<string>
     */
    private static function tokens(string $line): array
    {
        $input = new StringInput($line);

        return Closure::bind(fn (): array => $this->tokens, $input, ArgvInput::class)();
    }

    /** Sets _X_AMZN_TRACE_ID for this invocation, as Lambda's own runtimes do. */
    private static function exportTraceId(?string $traceId): void
    {
        if ($traceId === null) {
            putenv('_X_AMZN_TRACE_ID');
            unset($_ENV['_X_AMZN_TRACE_ID'], $_SERVER['_X_AMZN_TRACE_ID']);

            return;
        }
        putenv("_X_AMZN_TRACE_ID={$traceId}");
        $_ENV['_X_AMZN_TRACE_ID'] = $_SERVER['_X_AMZN_TRACE_ID'] = $traceId;
    }
}
