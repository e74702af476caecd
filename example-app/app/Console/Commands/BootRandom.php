<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/**
 * A command that draws a random number when it is built, as application code run while
 * the application boots does (a service provider, a config file, a command's constructor):
 * PHP seeds its Mersenne Twister on first use, so from then on the booted process holds a
 * seeded generator, and every process forked from it starts with the same sequence.
 */
class BootRandom extends Command
{
    protected $signature = 'hover:boot-random';

    protected $description = 'Print random numbers; one was drawn when the command was built';

    private int $drawnWhenBuilt;

    public function __construct()
    {
        parent::__construct();
        $this->drawnWhenBuilt = mt_rand();
    }

    public function handle(): int
    {
        $this->line(json_encode([mt_rand(), rand(), random_int(0, PHP_INT_MAX), lcg_value()]));

        return 0;
    }
}
