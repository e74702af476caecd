<!DOCTYPE html>
<html>
<head><title>Notes</title></head>
<body>
<h1>Notes</h1>
<p id="note">{{ $note ?? 'no note yet' }}</p>
<p id="saves">{{ $saves }}</p>
<form method="post" action="{{ url('/notes') }}">
    @csrf
    <input id="text" name="note">
    <button id="save" type="submit">Save</button>
</form>
</body>
</html>
