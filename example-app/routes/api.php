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
