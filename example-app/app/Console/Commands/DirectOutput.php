<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Writes through every channel a PHP process has, in a known order. */
class DirectOutput extends Command
{
    protected $signature = 'hover:direct-output';

    protected $description = 'Write to the console, STDOUT, STDERR, php:// streams, error_log() and dump()';

    public function handle(): int
    {
        $this->info('1 console output');
        echo "2 echo\n";
        fwrite(STDOUT, "3 STDOUT\n");
        fwrite(STDERR, "4 STDERR\n");
        file_put_contents('php://stdout', "5 php://stdout\n");
        file_put_contents('php://stderr', "6 php://stderr\n");
        error_log('7 error_log');
        dump('8 dump');
        $this->getOutput()->getOutput()->getErrorOutput()->writeln('9 console error output');
        printf("%s\n", '10 printf');

        return 0;
    }
}
