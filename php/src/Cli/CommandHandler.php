<?php

declare(strict_types=1);

namespace Hover\Cli;

use Hover\CliInvocation;
use Hover\Runtime;
use Illuminate\Contracts\Console\Kernel;
use Illuminate\Foundation\Application;
use Symfony\Component\Console\Input\StringInput;
use Throwable;

/**
 * The CLI function: each `{"command": "..."}` runs through Laravel's console Kernel in
 * this process, non-interactive, as `php artisan <command> --no-interaction` would.
 */
final class CommandHandler
{
    private const FATAL_ERRORS =
        E_ERROR | E_PARSE | E_CORE_ERROR | E_COMPILE_ERROR | E_USER_ERROR | E_RECOVERABLE_ERROR;

    private Kernel $kernel;
    private ?CliInvocation $current = null;

    public function __construct(private Runtime $runtime, Application $app)
    {
        $this->kernel = $app->make(Kernel::class);
        $this->kernel->bootstrap();
        // Registered after Laravel's own handlers, so it runs last before the extension
        // answers the invocation: the fatal error joins the output, as it would have in
        // the output of a `php artisan ... 2>&1` subprocess.
        register_shutdown_function(function (): void {
            $error = error_get_last();
            if ($this->current !== null && $error !== null && ($error['type'] & self::FATAL_ERRORS) !== 0) {
                $message = sprintf('%s in %s on line %d', $error['message'], $error['file'], $error['line']);
                $this->current->write("PHP Fatal error:  {$message}\n");
            }
        });
    }

    public function serve(): void
    {
        while (true) {
            $this->handle($this->runtime->nextCommand());
        }
    }

    public function handle(CliInvocation $invocation): void
    {
        $output = new CapturedOutput($invocation);
        $bufferLevel = ob_get_level();
        $verbosity = getenv('SHELL_VERBOSITY');
        // Output that bypasses the console (echo, print, var_dump) joins it, in order.
        ob_start(static function (string $buffer) use ($invocation): string {
            $invocation->write($buffer);

            return '';
        }, 1);
        $this->current = $invocation;
        try {
            $status = $this->run($invocation->command(), $output);
        } finally {
            while (ob_get_level() > $bufferLevel) {
                ob_end_flush();
            }
            self::restoreVerbosity($verbosity);
        }
        $this->current = null;
        $invocation->finish($status);
    }

    private function run(string $command, CapturedOutput $output): int
    {
        try {
            $input = new StringInput($command);
            $input->setInteractive(false);
            // A fresh Artisan application per command: nothing one command registers or
            // configures on it reaches the next.
            $this->kernel->setArtisan(null);
            $status = $this->kernel->handle($input, $output);
            $this->kernel->terminate($input, $status);

            return $status;
        } catch (Throwable $e) {
            // Kernel::handle() reports and renders what the command throws; this is what
            // happens outside it (input that cannot be parsed, a failing terminate()).
            $output->writeln(sprintf('%s: %s', get_class($e), $e->getMessage()));

            return 1;
        }
    }

    /**
     * Symfony's console writes `-v`/`-q` into SHELL_VERBOSITY (getenv, $_ENV and $_SERVER)
     * and reads it back on the next run; put back what was there before the command.
     */
    private static function restoreVerbosity(string|false $previous): void
    {
        if ($previous === false) {
            putenv('SHELL_VERBOSITY');
            unset($_ENV['SHELL_VERBOSITY'], $_SERVER['SHELL_VERBOSITY']);

            return;
        }
        putenv("SHELL_VERBOSITY={$previous}");
        $_ENV['SHELL_VERBOSITY'] = $_SERVER['SHELL_VERBOSITY'] = $previous;
    }
}
