<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/**
 * Changes every kind of process state a command can change, for the isolation tests:
 * none of it may reach a later command.
 */
class Leak extends Command
{
    protected $signature = 'hover:leak';

    protected $description = 'Change process state that must not outlive the command';

    /** A static property, as code keeps per-process caches in. */
    public static int $calls = 0;

    /** @var list<resource> open files and sockets, kept open on purpose */
    public static array $handles = [];

    public function handle(): int
    {
        putenv('HOVER_LEAKED=putenv');
        $_ENV['HOVER_LEAKED'] = $_SERVER['HOVER_LEAKED'] = 'superglobal';
        config(['app.leaked' => 'config']);
        app()->instance('hover.leaked', 'singleton');
        self::$calls++;
        chdir('/');
        umask(0077);
        date_default_timezone_set('Pacific/Chatham');
        ini_set('precision', '3');
        set_time_limit(2);
        for ($i = 0; $i < 20; $i++) {
            self::$handles[] = fopen(__FILE__, 'r');
        }
        self::$handles[] = stream_socket_server('tcp://127.0.0.1:0');
        pcntl_async_signals(true);
        pcntl_signal(SIGALRM, static function (): void {
            echo "the leaking command's alarm went off\n";
        });
        pcntl_alarm(1);
        register_shutdown_function(static function (): void {
            echo "shutdown function of the leaking command\n";
        });
        $this->line('state changed');

        return 0;
    }
}
