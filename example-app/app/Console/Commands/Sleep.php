<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class Sleep extends Command
{
    protected $signature = 'hover:sleep {seconds : How long to sleep}';

    protected $description = 'Sleep, to run into the invocation deadline';

    public function handle(): int
    {
        $this->line('sleeping ' . $this->argument('seconds') . ' s');
        sleep((int) $this->argument('seconds'));
        $this->line('woke up');

        return 0;
    }
}
