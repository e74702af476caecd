<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

class MixedOutput extends Command
{
    protected $signature = 'hover:mixed-output {--leave-buffer : Leave an output buffer open}';

    protected $description = 'Interleave echo with console output';

    public function handle(): int
    {
        $this->line('one');
        echo "two\n";
        $this->info('three');
        print "four\n";
        if ($this->option('leave-buffer')) {
            ob_start();
            echo "five, from a buffer left open\n";
        }

        return 0;
    }
}
