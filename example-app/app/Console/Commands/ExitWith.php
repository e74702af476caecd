<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class ExitWith extends Command
{
    protected $signature = 'hover:exit-with {code : The exit code to return}';

    protected $description = 'Return the given exit code';

    public function handle(): int
    {
        $this->line('returning ' . $this->argument('code'));

        return (int) $this->argument('code');
    }
}
