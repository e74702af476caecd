<?php

namespace App\Console\Commands;

use Illuminate\Console\Command;

/** Opens files and a socket, then ends the process with exit(), leaving them open. */
class OpenAndExit extends Command
{
    protected $signature = 'hover:open-and-exit';

    protected $description = 'Open files and a socket, then exit() without closing them';

    public function handle(): int
    {
        $handles = [];
        for ($i = 0; $i < 10; $i++) {
            $handles[] = fopen(__FILE__, 'r');
        }
        $handles[] = stream_socket_server('tcp://127.0.0.1:0');
        $this->line('opened ' . count($handles));
        exit(9);
    }
}
