<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Takes an argument and options: the end-to-end tests check that all three reach it. */
class Greet extends Command
{
    protected $signature = 'hover:greet
        {name : Who to greet}
        {--times=1 : How many times}
        {--shout : Upper-case the greeting}';

    protected $description = 'Greet someone';

    public function handle(): int
    {
        $greeting = 'Hello, ' . $this->argument('name') . '!';
        if ($this->option('shout')) {
            $greeting = strtoupper($greeting);
        }
        for ($i = 0; $i < (int) $this->option('times'); $i++) {
            $this->line($greeting);
        }

        return 0;
    }
}
