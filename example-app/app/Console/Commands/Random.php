<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Prints random numbers from PHP's seeded generators. */
class Random extends Command
{
    protected $signature = 'hover:random';

    protected $description = 'Print numbers from mt_rand() and rand()';

    public function handle(): int
    {
        $this->line(mt_rand() . ' ' . rand() . ' ' . random_int(0, PHP_INT_MAX));

        return 0;
    }
}
