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

// A page with a Blade form (@csrf, an absolute action URL): posting it stores the note in
// the session and redirects back to the page, which shows it (tests/e2e/test_local_runner*).
Route::get('/notes', function (Request $request) {
    return view('notes', [
        'note' => $request->session()->get('note'),
        'saves' => (int) $request->session()->get('saves', 0),
    ]);
});

Route::post('/notes', function (Request $request) {
    $request->session()->put('note', (string) $request->input('note'));
    $request->session()->increment('saves');

    return redirect('/notes');
});
