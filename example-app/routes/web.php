<?php

use Illuminate\Http\Request;
use Illuminate\Support\Facades\Route;

Route::get('/', function () {
    return 'Hello from Hover';
});

// A form with the session's CSRF token; posting it back counts submissions in the session.
Route::get('/form', function (Request $request) {
    $token = csrf_token();

    return "<form method=\"post\" action=\"/form\"><input type=\"hidden\" name=\"_token\" value=\"{$token}\">"
        . '<input name="name"><button type="submit">Send</button></form>';
});

Route::post('/form', function (Request $request) {
    $request->session()->increment('submissions');

    return response()->json([
        'name' => $request->input('name'),
        'submissions' => $request->session()->get('submissions'),
    ]);
});

Route::get('/session', function (Request $request) {
    $request->session()->increment('visits');

    return response()->json(['visits' => $request->session()->get('visits')]);
});
