<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Prints the process state hover:leak changes, as JSON. */
class ShowState extends Command
{
    protected $signature = 'hover:state';

    protected $description = 'Print the process state hover:leak changes';

    public function handle(): int
    {
        $handler = pcntl_signal_get_handler(SIGALRM);
        $this->line(json_encode([
            'getenv' => getenv('HOVER_LEAKED'),
            '_ENV' => $_ENV['HOVER_LEAKED'] ?? null,
            '_SERVER' => $_SERVER['HOVER_LEAKED'] ?? null,
            'config' => config('app.leaked'),
            'singleton' => app()->bound('hover.leaked'),
            'static' => Leak::$calls,
            'cwd' => getcwd(),
            'umask' => sprintf('%04o', umask()),
            'timezone' => date_default_timezone_get(),
            'precision' => ini_get('precision'),
            'max_execution_time' => ini_get('max_execution_time'),
            'alarm_handler' => is_int($handler) ? $handler : 'a closure',
            'open_descriptors' => count(scandir('/proc/self/fd')) - 2,
            'argv' => $_SERVER['argv'],
        ]));

        return 0;
    }
}
