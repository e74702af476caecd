<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Counts its runs on its own instance: a reused Artisan application would count up. */
class InstanceCalls extends Command
{
    protected $signature = 'hover:instance-calls';

    protected $description = 'Print how many times this command instance has run';

    private int $calls = 0;

    public function handle(): int
    {
        $this->calls++;
        $this->line('calls=' . $this->calls);

        return 0;
    }
}
