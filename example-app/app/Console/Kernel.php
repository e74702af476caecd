<?php

namespace App\Console;

use Illuminate\Console\Scheduling\Schedule;
use Illuminate\Foundation\Console\Kernel as ConsoleKernel;

class Kernel extends ConsoleKernel
{
    protected $commands = [
        Commands\Greet::class,
        Commands\ExitWith::class,
        Commands\Fail::class,
        Commands\Sleep::class,
        Commands\CallExit::class,
        Commands\ShowEnv::class,
        Commands\SecretDigests::class,
        Commands\Ping::class,
        Commands\Verbosity::class,
        Commands\MixedOutput::class,
        Commands\Flood::class,
        Commands\InstanceCalls::class,
        Commands\ExhaustMemory::class,
        Commands\Fork::class,
        Commands\Leak::class,
        Commands\ShowState::class,
        Commands\DirectOutput::class,
        Commands\CloseOutput::class,
        Commands\SpawnChildren::class,
        Commands\OpenAndExit::class,
        Commands\ExitStatus::class,
        Commands\Random::class,
        Commands\Hostile::class,
        Commands\BootRandom::class,
        Commands\QueuePayload::class,
    ];

    protected function schedule(Schedule $schedule)
    {
    }

    protected function commands()
    {
        require base_path('routes/console.php');
    }
}
