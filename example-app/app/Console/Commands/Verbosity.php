<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class Verbosity extends Command
{
    protected $signature = 'hover:verbosity';

    protected $description = 'Print the output verbosity and whether input is interactive';

    public function handle(): int
    {
        $this->line('verbosity=' . $this->getOutput()->getVerbosity());
        $this->line('interactive=' . ($this->input->isInteractive() ? 'yes' : 'no'));

        return 0;
    }
}
