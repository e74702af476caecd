<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class CallExit extends Command
{
    protected $signature = 'hover:call-exit {status=0 : The status to exit() with}';

    protected $description = 'Call exit() in the middle of the command';

    public function handle(): int
    {
        $this->line('before exit');
        echo "echoed before exit\n";
        exit((int) $this->argument('status'));
    }
}
