<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class Fork extends Command
{
    protected $signature = 'hover:fork';

    protected $description = 'Fork a child that writes and exits, then finish in the parent';

    public function handle(): int
    {
        $pid = pcntl_fork();
        if ($pid === 0) {
            echo "from the child\n";
            exit(0);
        }
        pcntl_waitpid($pid, $status);
        $this->line('child exited with ' . pcntl_wexitstatus($status));

        return 0;
    }
}
