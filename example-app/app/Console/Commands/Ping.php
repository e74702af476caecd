<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** The trivial command the benchmark runs. */
class Ping extends Command
{
    protected $signature = 'hover:ping';

    protected $description = 'Answer pong';

    public function handle(): int
    {
        $this->line('pong');

        return 0;
    }
}
