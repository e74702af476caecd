<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class Flood extends Command
{
    protected $signature = 'hover:flood {megabytes : How much output to write}';

    protected $description = 'Write a lot of output';

    public function handle(): int
    {
        $line = str_repeat('x', 1023) . "\n";
        for ($i = 0; $i < 1024 * (int) $this->argument('megabytes'); $i++) {
            $this->getOutput()->write($line);
        }

        return 0;
    }
}
