<?php

namespace App\Providers;

use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    public function register()
    {
    }

    public function boot()
    {
        // As packages do at boot (a random id, a sampling decision): PHP's Mersenne
        // Twister gets seeded in the process that boots, before any command is forked.
        config(['app.boot_sample' => mt_rand()]);
    }
}
