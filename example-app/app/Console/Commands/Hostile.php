<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/**
 * What a hostile or careless command does to the process it runs in, for
 * tests/e2e/test_cli_hostile.py. One command, many actions, so that each attack is a
 * command line.
 */
class Hostile extends Command
{
    protected $signature = 'hover:hostile {action} {arg?} {--n=0}';

    protected $description = 'Attack the runtime the way a hostile or careless command would';

    public function handle(): int
    {
        $arg = $this->argument('arg');
        $n = (int) $this->option('n');
        switch ($this->argument('action')) {
            case 'escape':
                // A daemon: a child in a session of its own, out of the command's group,
                // still holding the output pipe unless told otherwise.
                $pid = pcntl_fork();
                if ($pid === 0) {
                    posix_setsid();
                    file_put_contents($arg, (string) posix_getpid());
                    if ($n === 0) {
                        fclose(STDOUT);
                        fclose(STDERR);
                    }
                    for ($i = 0; $i < 300; $i++) {
                        sleep(1);
                        if ($n > 0) {
                            @fwrite(STDOUT, "daemon still writing\n");
                        }
                    }
                    posix_kill(posix_getpid(), SIGKILL);
                }
                while (!is_file($arg) || file_get_contents($arg) === '') {
                    usleep(1000);
                }
                $this->line('escaped');

                return 0;

            case 'leave-group':
                // The command moves itself into its parent's process group, then runs on.
                $ok = posix_setpgid(0, posix_getpgid(posix_getppid()));
                file_put_contents($arg, (string) posix_getpid());
                $this->line($ok ? 'left my group' : 'setpgid failed: ' . posix_strerror(posix_get_last_error()));
                sleep($n);

                return 0;

            case 'stop-self':
                $this->line('stopping myself');
                posix_kill(posix_getpid(), SIGSTOP);
                $this->line('continued');

                return 0;

            case 'signal-parent':
                $this->line('signalling my parent with ' . $arg);
                posix_kill(posix_getppid(), constant($arg));
                usleep(200000);
                $this->line('still here');

                return 0;

            case 'bytes':
                // NUL, bytes that are not UTF-8, \r, and no newline at the end.
                fwrite(STDOUT, "a\0b\xff\xfe\xc3(\r\nlast line without newline");

                return 0;

            case 'write':
                // Exactly n bytes, in one line (no newline anywhere) unless arg is "lines".
                $chunk = $arg === 'lines' ? str_repeat('y', 1023) . "\n" : str_repeat('y', 1024);
                $left = $n;
                while ($left > 0) {
                    $piece = substr($chunk, 0, min($left, 1024));
                    fwrite(STDOUT, $piece);
                    $left -= strlen($piece);
                }

                return 0;

            case 'short-lines':
                // n bytes of two-byte lines, written in large pieces.
                $block = str_repeat("x\n", 32768);
                for ($left = $n; $left > 0; $left -= strlen($block)) {
                    fwrite(STDOUT, substr($block, 0, min($left, strlen($block))));
                }

                return 0;

            case 'shutdown-exit':
                register_shutdown_function(static function () use ($n): void {
                    echo "shutdown function exits\n";
                    exit($n);
                });
                $this->line('registered');

                return 0;

            case 'destructor-exit':
                $GLOBALS['hover_hostile_destructor'] = new class ($n) {
                    public function __construct(private int $status)
                    {
                    }

                    public function __destruct()
                    {
                        echo "destructor exits\n";
                        exit($this->status);
                    }
                };
                $this->line('created');

                return 0;

            case 'shutdown-fatal':
                register_shutdown_function(static function (): void {
                    echo "shutdown function fails\n";
                    hover_no_such_function();
                });
                $this->line('registered');

                return 0;

            case 'facts':
                $this->line(json_encode([
                    'no-interaction' => $this->option('no-interaction'),
                    'interactive' => $this->input->isInteractive(),
                    'environment' => app()->environment(),
                    'laravel_start' => defined('LARAVEL_START') ? microtime(true) - LARAVEL_START < 10 : 'undefined',
                    'request_time_age' => time() - $_SERVER['REQUEST_TIME'],
                    'getmypid' => getmypid() === posix_getpid(),
                    'argc' => $_SERVER['argc'] === count($_SERVER['argv']),
                ]));

                return 0;

            case 'random':
                $this->line(json_encode([mt_rand(), rand(), mt_rand(1, 1000000), lcg_value()]));

                return 0;

            case 'zombies':
                // Children that exit at once and are never waited for.
                for ($i = 0; $i < $n; $i++) {
                    if (pcntl_fork() === 0) {
                        posix_kill(posix_getpid(), SIGKILL);
                    }
                }
                $this->line("forked {$n}");

                return 0;

            case 'late-writer':
                // A child in the command's group writes after the command has returned.
                if (pcntl_fork() === 0) {
                    usleep(300000);
                    fwrite(STDOUT, "late output\n");
                    posix_kill(posix_getpid(), SIGKILL);
                }
                $this->line('returning');

                return 0;

            case 'exec':
                $this->line('before exec');
                pcntl_exec('/bin/sh', ['-c', 'echo from sh; exit 5']);

                return 1;

            case 'close-inherited':
                // Shuts down every descriptor above stderr it inherited.
                $closed = 0;
                foreach (scandir('/proc/self/fd') as $fd) {
                    if (ctype_digit($fd) && (int) $fd > 2) {
                        $stream = @fopen("php://fd/{$fd}", 'r+');
                        if ($stream !== false) {
                            $socket = @socket_import_stream($stream);
                            if ($socket !== false && $socket !== null) {
                                @socket_shutdown($socket, 2);
                                $closed++;
                            }
                        }
                    }
                }
                $this->line("shut down {$closed}");

                return 0;
        }
        $this->error('unknown action');

        return 2;
    }
}
