<?php

/*
 * Routes the end-to-end tests of the HTTP function call: each shows what Laravel saw of
 * the request, or answers in a way a test needs.
 */

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Route;

Route::any('/echo/{path?}', function (Request $request) {
    $files = [];
    foreach ($request->allFiles() as $name => $file) {
        $files[$name] = [
            'name' => $file->getClientOriginalName(),
            'size' => $file->getSize(),
            'md5' => md5_file($file->getRealPath()),
            'type' => $file->getClientMimeType(),
        ];
    }
    $server = [];
    foreach ($request->server->all() as $name => $value) {
        if (!is_array($value) && ($name === strtoupper($name))) {
            $server[$name] = (string) $value;
        }
    }

    return response()->json([
        'method' => $request->method(),
        'path' => $request->path(),
        'decoded_path' => $request->decodedPath(),
        'query_string' => $_SERVER['QUERY_STRING'] ?? null,
        'query' => $request->query(),
        'input' => $request->input(),
        'json' => $request->isJson() ? $request->json()->all() : null,
        'headers' => $request->headers->all(),
        'cookies' => $request->cookies->all(),
        'ip' => $request->ip(),
        'secure' => $request->secure(),
        'url' => url()->current(),
        'full_url' => $request->fullUrl(),
        'body_md5' => md5($request->getContent()),
        'body_length' => strlen($request->getContent()),
        'files' => $files,
        'server' => $server,
    ]);
})->where('path', '.*');

// The request's body back, with the request's content type: binary round trips.
Route::post('/mirror', function (Request $request) {
    return response($request->getContent(), 200, ['Content-Type' => $request->header('Content-Type')]);
});

Route::get('/latin1', function () {
    return response("caf\xe9 cr\xe8me", 200, ['Content-Type' => 'text/plain; charset=ISO-8859-1']);
});

Route::get('/cookies', function () {
    return response('three cookies')
        ->cookie('first', 'one', 60)
        ->cookie('second', 'two', 60)
        ->cookie('third', 'three', 60);
});

Route::get('/fail', function () {
    throw new RuntimeException('the route failed on purpose');
});

Route::get('/stderr/{kilobytes}', function (int $kilobytes) {
    // STDERR is a constant of the CLI only: php-fpm's workers open the stream.
    $stderr = fopen('php://stderr', 'w');
    $line = str_repeat('e', 1023) . "\n";
    for ($i = 0; $i < $kilobytes; $i++) {
        fwrite($stderr, $line);
    }

    return "wrote {$kilobytes} KB to stderr";
});

Route::get('/sleep/{milliseconds}', function (int $milliseconds) {
    usleep($milliseconds * 1000);

    return "slept {$milliseconds} ms";
});

Route::get('/bytes/{count}', function (int $count) {
    return response(str_repeat('x', $count), 200, ['Content-Type' => 'text/plain', 'Content-Length' => $count]);
});

Route::get('/pid', function () {
    return response()->json(['pid' => getmypid(), 'parent' => posix_getppid()]);
});

Route::get('/config', function (Request $request) {
    return response()->json([
        'cached' => app()->configurationIsCached(),
        'values' => collect((array) $request->query('keys'))->mapWithKeys(fn ($key) => [$key => config($key)]),
    ]);
});

Route::get('/status/{code}', function (int $code) {
    return response("status {$code}", $code);
});

// Routes of the hostile tests (tests/e2e/test_http_hostile.py): a route that misbehaves in
// each way an application can, and one that shows what a later request inherits.
Route::get('/hostile/state', function (Request $request) {
    return response()->json([
        'env' => getenv('HOVER_HOSTILE_LEAK'),
        'server_env' => $_SERVER['HOVER_HOSTILE_LEAK'] ?? null,
        'memory_limit' => ini_get('memory_limit'),
        'headers_sent' => headers_list(),
        'ob_level' => ob_get_level(),
        'pid' => getmypid(),
        'https' => $_SERVER['HTTPS'] ?? null,
        'leak_header' => $_SERVER['HTTP_X_HOSTILE_LEAK'] ?? null,
        'remote_addr' => $_SERVER['REMOTE_ADDR'] ?? null,
        'content_type' => $_SERVER['CONTENT_TYPE'] ?? null,
    ]);
});

Route::get('/hostile/pollute', function () {
    putenv('HOVER_HOSTILE_LEAK=polluted');
    $_SERVER['HOVER_HOSTILE_LEAK'] = 'polluted';
    $_ENV['HOVER_HOSTILE_LEAK'] = 'polluted';
    ini_set('memory_limit', '999M');
    header('X-Hostile-Stale: 1');
    ob_start();
    ob_start();
    echo 'polluted';

    return 'polluted';
});

Route::get('/hostile/exit', function () {
    header('X-Before-Exit: yes');
    echo 'partial output';
    exit();
});

Route::get('/hostile/die', function () {
    die('died');
});

Route::get('/hostile/memory', function () {
    ini_set('memory_limit', '32M');
    $hog = [];
    while (true) {
        $hog[] = str_repeat('m', 1024 * 1024);
    }
});

Route::get('/hostile/fatal', function () {
    // A fatal error that no handler can catch: a compile error in an eval'd class.
    eval('class HoverHostileDuplicate {} class HoverHostileDuplicate {}');
});

Route::get('/hostile/header-after-output', function () {
    echo 'early output';
    header('X-Too-Late: 1');

    return '';
});

Route::get('/hostile/status/{status}', function (string $status) {
    header('Status: ' . rawurldecode($status));
    echo 'odd status';
    exit();
});

Route::get('/hostile/response-code-zero', function () {
    http_response_code(0);
    echo 'code zero';
    exit();
});

Route::get('/hostile/header-injection', function () {
    $results = [];
    foreach (["X-A: a\r\nX-Injected: yes", "X-B: b\nX-Injected: yes", "X-C: c\0d"] as $line) {
        try {
            header($line);
            $results[] = 'sent';
        } catch (\Throwable $e) {
            $results[] = get_class($e);
        }
    }
    header("X-Binary: caf\xe9 \xff");
    header('SeT-CoOkIe: mixed=1', false);
    header('set-cookie: lower=2', false);
    header('SET-COOKIE: upper=3', false);
    echo json_encode($results);
    exit();
});

Route::get('/hostile/stdout', function () {
    fwrite(fopen('php://stdout', 'w'), "written to the worker's stdout\n");
    fwrite(fopen('php://output', 'w'), 'through php://output;');
    error_log('hostile error_log line');

    return 'after stdout';
});

Route::get('/hostile/binary/{count}', function (int $count) {
    return response(str_repeat("\xff", $count), 200, ['Content-Type' => 'application/octet-stream']);
});

Route::get('/hostile/headers/{count}', function (int $count) {
    $response = response('many headers');
    for ($i = 0; $i < $count; $i++) {
        $response->headers->set("X-Many-{$i}", str_repeat('h', 100));
    }

    return $response;
});

Route::get('/hostile/empty', function () {
    return response('', 204);
});

// Uploaded files as the application received them: name, size, type and SHA-256.
Route::post('/upload', function (Request $request) {
    $files = [];
    foreach ($request->allFiles() as $name => $file) {
        $files[$name] = [
            'name' => $file->getClientOriginalName(),
            'size' => $file->getSize(),
            'sha256' => hash_file('sha256', $file->getRealPath()),
            'type' => $file->getClientMimeType(),
        ];
    }

    return response()->json(['files' => $files, 'input' => $request->except(array_keys($files))]);
});

// A binary download: every byte value in turn, $count bytes, as an attachment.
Route::get('/download/{count}', function (int $count) {
    $bytes = '';
    for ($i = 0; $i < $count; $i++) {
        $bytes .= chr($i % 256);
    }

    return response($bytes, 200, [
        'Content-Type' => 'application/octet-stream',
        'Content-Disposition' => 'attachment; filename="bytes.bin"',
    ]);
});
