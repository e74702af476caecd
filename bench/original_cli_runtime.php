<?php

/*
 * The baseline for bench/cli_latency.py: a CLI runtime that works the way the original
 * PHP runtime of Hover did. Plain PHP polls the Runtime API, and each command runs as a
 * `php artisan <command> --no-interaction` subprocess whose output is sent back base64'd.
 * Init mirrors the original too: manifest environment exported, `config:cache` run once.
 */

declare(strict_types=1);

$api = 'http://' . getenv('AWS_LAMBDA_RUNTIME_API') . '/2018-06-01/runtime';
$root = getenv('LAMBDA_TASK_ROOT');
$storage = getenv('HOVER_STORAGE_PATH');
$manifest = json_decode(file_get_contents("{$root}/hover_runtime/manifest.json"), true);

$folders = ['app/public', 'bootstrap/cache', 'framework/cache/data', 'framework/sessions', 'framework/views', 'logs'];
foreach ($folders as $dir) {
    @mkdir("{$storage}/{$dir}", 0777, true);
}
$environment = $manifest['environment'] + [
    'HOVER_BUILD_ID' => $manifest['build_details']['id'],
    'APP_CONFIG_CACHE' => "{$storage}/bootstrap/cache/config.php",
    'APP_SERVICES_CACHE' => "{$storage}/bootstrap/cache/services.php",
    'APP_PACKAGES_CACHE' => "{$storage}/bootstrap/cache/packages.php",
    'APP_ROUTES_CACHE' => "{$storage}/bootstrap/cache/routes-v7.php",
    'APP_EVENTS_CACHE' => "{$storage}/bootstrap/cache/events.php",
];
foreach ($environment as $name => $value) {
    putenv("{$name}=" . (is_bool($value) ? var_export($value, true) : $value));
}
$artisan = escapeshellarg(PHP_BINARY) . ' ' . escapeshellarg("{$root}/artisan");
exec("{$artisan} config:cache 2>&1");

while (true) {
    $event = file_get_contents("{$api}/invocation/next");
    foreach ($http_response_header as $line) {
        if (stripos($line, 'Lambda-Runtime-Aws-Request-Id:') === 0) {
            $requestId = trim(substr($line, strlen('Lambda-Runtime-Aws-Request-Id:')));
        }
    }
    $command = json_decode($event, true)['command'];
    $output = [];
    exec("{$artisan} {$command} --no-interaction 2>&1", $output, $exitCode);
    $body = json_encode(['exit_code' => $exitCode, 'output' => base64_encode(implode("\n", $output) . "\n")]);
    file_get_contents("{$api}/invocation/{$requestId}/response", false, stream_context_create(['http' => [
        'method' => 'POST',
        'header' => 'Content-Type: application/json',
        'content' => $body,
    ]]));
}
