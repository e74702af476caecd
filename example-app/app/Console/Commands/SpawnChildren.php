<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/**
 * Starts background processes that outlive it unless the runtime stops them, writes their
 * pids to a file, then sleeps (or returns at once with --return).
 */
class SpawnChildren extends Command
{
    protected $signature = 'hover:spawn-children {pidfile} {--sleep=0}';

    protected $description = 'Start background processes, then sleep or return';

    public function handle(): int
    {
        $pids = [];
        for ($i = 0; $i < 2; $i++) {
            $pids[] = (int) shell_exec('sleep 300 > /dev/null 2>&1 & echo $!');
        }
        file_put_contents($this->argument('pidfile'), implode("\n", $pids));
        $this->line('started ' . implode(' ', $pids));
        sleep((int) $this->option('sleep'));

        return 0;
    }
}
