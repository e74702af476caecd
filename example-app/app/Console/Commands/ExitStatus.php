<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Returns any integer as its status, as a process would report it. */
class ExitStatus extends Command
{
    protected $signature = 'hover:status {status}';

    protected $description = 'Return the given integer as the command status';

    public function handle(): int
    {
        return (int) $this->argument('status');
    }
}
