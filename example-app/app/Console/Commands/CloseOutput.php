<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Closes its own STDOUT and STDERR, goes on, then exits. */
class CloseOutput extends Command
{
    protected $signature = 'hover:close-output {status=3}';

    protected $description = 'Close STDOUT and STDERR, keep running, exit with a status';

    public function handle(): int
    {
        $this->line('before closing');
        fclose(STDOUT);
        fclose(STDERR);
        usleep(300_000);
        exit((int) $this->argument('status'));
    }
}
