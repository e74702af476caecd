<?php

/*
 * For bench/http_latency.py: php-fpm runs this script (its SCRIPT_FILENAME) to time what
 * the configuration cache costs a request: a `require` of APP_CONFIG_CACHE, as Laravel's
 * LoadConfiguration does it, 201 times under OPcache. Prints the median in microseconds.
 */

declare(strict_types=1);

// The cache of a function with secrets calls Illuminate\Support\Env: the app's autoloader.
require $_SERVER['DOCUMENT_ROOT'] . '/../vendor/autoload.php';

$path = getenv('APP_CONFIG_CACHE');
$samples = [];
for ($i = 0; $i < 201; $i++) {
    $started = hrtime(true);
    $config = require $path;
    $samples[] = hrtime(true) - $started;
}
sort($samples);
header('Content-Type: text/plain');
echo number_format($samples[100] / 1000, 3, '.', '');
