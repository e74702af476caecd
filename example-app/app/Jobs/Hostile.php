<?php

namespace App\Jobs;

use App\Jobs\Concerns\RecordsToQueueLog;
use DateInterval;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;
use RuntimeException;
use Throwable;

/**
 * A job that misbehaves on purpose, for the hostile queue tests: `$action` says how, `$arg`
 * tunes it. Each run records `ran` in the example's queue log (with what the action saw),
 * and most record what they did after. `$timeout`, when given, is the job's own.
 *
 * Actions:
 * - `state`: records the process state a job can change (env, ini, handlers, buffers, cwd,
 *   umask, statics, config, signals, the trace id) without changing it;
 * - `pollute`: changes all of it, and leaves it changed;
 * - `echo`: writes `$arg` to PHP's output, STDOUT and STDERR (the last without a newline);
 * - `fork-returns`: forks; the child returns from the job (as if it forgot to exit);
 * - `fork-child-exits`: forks a child that calls exit() at once (the usual way); the parent
 *   waits for it, then returns;
 * - `fork-lingers`: forks a child that sleeps `$arg` seconds, then exits; the parent returns;
 * - `orphan`: starts a shell's background process, which outlives the shell;
 * - `alarm-off`: cancels its own alarm (pcntl_alarm(0)), then sleeps `$arg` seconds;
 * - `own-alarm-handler`: replaces the SIGALRM handler with one that ignores it, then sleeps;
 * - `async-off`: turns PHP's asynchronous signals off, and returns so;
 * - `block-alarm-then-exit`: blocks SIGALRM in the signal mask, then calls exit();
 * - `leave-cwd-then-exit`: moves to a folder it deletes, then calls exit();
 * - `sleep`: sleeps `$arg` seconds (in short naps); `sleep-then-exit`: then calls exit();
 * - `signal-self`: sends itself the signal `$arg` (a number), then sleeps a second;
 * - `release`: release($arg), `$arg` seconds; `release-negative`: release(-$arg);
 *   `release-at`: release(now + $arg seconds as a DateTime); `release-interval`: release(a
 *   DateInterval of $arg seconds);
 * - `release-then-delete`, `delete-then-release`, `fail-then-release`: both, in that order
 *   (a release of `$arg` seconds);
 * - `throw`: throws (its failed(), on its last try, does what `$arg` says: `exit`,
 *   `memory`, `throw`, or nothing);
 * - `attributes`: records the message as the job got it (message attributes, attributes);
 * - `pad`: records the length of `$arg` (a large body);
 * - `hog`: keeps `$arg` MB allocated (in a static) after it returns;
 * - `close-output`: closes STDERR (descriptor 2), and STDOUT too when `$arg` is `both`;
 * - `hold-file`: opens the file `$arg` for appending and keeps it open (in a static), then
 *   writes to STDERR and to PHP's error log (which the CLI sends to stderr).
 */
class Hostile implements ShouldQueue
{
    use Dispatchable;
    use InteractsWithQueue;
    use Queueable;
    use SerializesModels;
    use RecordsToQueueLog;

    /** @var string */
    public $action;

    /** @var mixed */
    public $arg;

    /** @var int|null */
    public $timeout;

    /** @var mixed set by `pollute`, read by `state` */
    public static $polluted = null;

    /** @var array<int, mixed> what `hog` and `hold-file` keep */
    public static $kept = [];

    public function __construct(string $label, string $action, $arg = null, ?int $timeout = null)
    {
        $this->label = $label;
        $this->action = $action;
        $this->arg = $arg;
        $this->timeout = $timeout;
    }

    public function handle(): void
    {
        switch ($this->action) {
            case 'state':
                $this->record('ran', ['state' => self::state()]);

                return;
            case 'pollute':
                $this->record('ran');
                $this->pollute();
                $this->record('polluted', ['state' => self::state()]);

                return;
            case 'echo':
                $this->record('ran');
                echo "echo:{$this->arg}\n";
                fwrite(STDOUT, "stdout:{$this->arg}\n");
                fwrite(STDERR, "stderr-partial:{$this->arg}");

                return;
            case 'fork-returns':
                $pid = pcntl_fork();
                $this->record($pid === 0 ? 'child' : 'parent', ['child' => $pid]);

                return;
            case 'fork-child-exits':
                $pid = pcntl_fork();
                if ($pid === 0) {
                    exit(0);
                }
                pcntl_waitpid($pid, $status);
                $this->record('parent', ['child' => $pid, 'status' => $status]);

                return;
            case 'fork-lingers':
                $this->record('ran');
                $pid = pcntl_fork();
                if ($pid === 0) {
                    usleep((int) ((float) $this->arg * 1e6));
                    posix_kill(getmypid(), SIGKILL); // no shutdown, no PHP at all
                }
                $this->record('parent', ['child' => $pid]);

                return;
            case 'orphan':
                $this->record('ran');
                shell_exec('sleep ' . escapeshellarg((string) $this->arg) . ' > /dev/null 2>&1 &');

                return;
            case 'alarm-off':
                $this->record('ran');
                pcntl_alarm(0);
                $this->nap((float) $this->arg);
                $this->record('woke');

                return;
            case 'own-alarm-handler':
                $this->record('ran');
                pcntl_signal(SIGALRM, static function (): void {
                });
                $this->nap((float) $this->arg);
                $this->record('woke');

                return;
            case 'async-off':
                $this->record('ran');
                pcntl_async_signals(false);

                return;
            case 'block-alarm-then-exit':
                $this->record('ran');
                pcntl_sigprocmask(SIG_BLOCK, [SIGALRM]);
                exit(0);
            case 'leave-cwd-then-exit':
                $this->record('ran');
                $folder = sys_get_temp_dir() . '/hover-hostile-cwd-' . getmypid() . '-' . mt_rand();
                mkdir($folder);
                chdir($folder);
                rmdir($folder);
                exit(0);
            case 'sleep':
                $this->record('ran');
                $this->nap((float) $this->arg);
                $this->record('woke');

                return;
            case 'sleep-then-exit':
                $this->record('ran');
                $this->nap((float) $this->arg);
                exit(0);
            case 'signal-self':
                $this->record('ran');
                posix_kill(getmypid(), (int) $this->arg);
                $this->nap(1.0);
                $this->record('woke');

                return;
            case 'release':
                $this->record('ran');
                $this->release($this->arg);

                return;
            case 'release-negative':
                $this->record('ran');
                $this->release(-(int) $this->arg);

                return;
            case 'release-at':
                $this->record('ran');
                $this->release(now()->addSeconds((int) $this->arg));

                return;
            case 'release-interval':
                $this->record('ran');
                $this->release(new DateInterval('PT' . (int) $this->arg . 'S'));

                return;
            case 'release-then-delete':
                $this->record('ran');
                $this->release((int) $this->arg);
                $this->delete();

                return;
            case 'delete-then-release':
                $this->record('ran');
                $this->delete();
                $this->release((int) $this->arg);

                return;
            case 'fail-then-release':
                $this->record('ran');
                $this->fail(new RuntimeException("{$this->label} gave up"));
                $this->release((int) $this->arg);

                return;
            case 'throw':
                $this->record('ran');

                throw new RuntimeException("{$this->label} threw");
            case 'attributes':
                $message = $this->job->getSqsJob();
                $this->record('ran', [
                    'message_attributes' => self::describe($message['MessageAttributes'] ?? null),
                    'attributes' => $message['Attributes'] ?? null,
                ]);

                return;
            case 'hog':
                self::$kept[] = str_repeat('h', (int) $this->arg * 1024 * 1024);
                $this->record('ran', ['memory' => memory_get_usage(true)]);

                return;
            case 'close-output':
                $this->record('ran');
                if ($this->arg === 'both') {
                    fclose(STDOUT);
                }
                fclose(STDERR);

                return;
            case 'hold-file':
                $file = fopen((string) $this->arg, 'a');
                self::$kept[] = $file;
                $this->record('ran', ['fd' => self::descriptorOf((string) $this->arg)]);
                try {
                    fwrite(STDERR, "hold-file: written to STDERR\n");
                } catch (Throwable $e) {
                    // Closed by an earlier job.
                }
                error_log('hold-file: written to the error log');

                return;
            case 'pad':
                $this->record('ran', ['length' => strlen((string) $this->arg)]);

                return;
        }

        throw new RuntimeException("unknown action {$this->action}");
    }

    /**
     * On its last try, `throw` fails, and its failed() handler then misbehaves as `$arg` says.
     */
    public function failed(Throwable $exception): void
    {
        $this->record('failed', ['exception' => get_class($exception), 'message' => $exception->getMessage()]);
        if ($this->arg === 'exit') {
            exit(7);
        }
        if ($this->arg === 'memory') {
            ini_set('memory_limit', '64M');
            $blocks = [];
            while (true) {
                $blocks[] = str_repeat('x', 1024 * 1024);
            }
        }
        if ($this->arg === 'throw') {
            throw new RuntimeException("{$this->label}'s failed() threw");
        }
    }

    /** The descriptor this process holds open on `$path`, or null. */
    private static function descriptorOf(string $path): ?int
    {
        foreach (scandir('/proc/self/fd') as $fd) {
            if (ctype_digit($fd) && @readlink("/proc/self/fd/{$fd}") === realpath($path)) {
                return (int) $fd;
            }
        }

        return null;
    }

    private function nap(float $seconds): void
    {
        $end = microtime(true) + $seconds;
        while (($left = $end - microtime(true)) > 0) {
            usleep((int) (min($left, 0.05) * 1e6));
        }
    }

    private function pollute(): void
    {
        putenv('HOSTILE_PUTENV=polluted');
        $_ENV['HOSTILE_ENV'] = 'polluted';
        $_SERVER['HOSTILE_SERVER'] = 'polluted';
        $GLOBALS['hostile_global'] = 'polluted';
        self::$polluted = 'polluted';
        config(['app.hostile' => 'polluted']);
        ini_set('precision', '5');
        set_error_handler(static function (): bool {
            return true;
        });
        ob_start();
        umask(0077);
        chdir('/');
        pcntl_signal(SIGUSR1, static function (): void {
        });
    }

    /**
     * @return array<string, mixed>
     */
    private static function state(): array
    {
        $previousHandler = set_error_handler(static function (): bool {
            return false;
        });
        restore_error_handler();
        $umask = umask();
        $mask = [];
        pcntl_sigprocmask(SIG_BLOCK, [], $mask);
        $usr1 = pcntl_signal_get_handler(SIGUSR1);

        return [
            'pid' => getmypid(),
            'putenv' => getenv('HOSTILE_PUTENV'),
            'env' => $_ENV['HOSTILE_ENV'] ?? null,
            'server' => $_SERVER['HOSTILE_SERVER'] ?? null,
            'global' => $GLOBALS['hostile_global'] ?? null,
            'static' => self::$polluted,
            'config' => config('app.hostile'),
            'precision' => ini_get('precision'),
            'error_handler' => is_object($previousHandler)
                ? get_class($previousHandler)
                : (is_array($previousHandler) ? 'array' : $previousHandler),
            'ob_level' => ob_get_level(),
            'cwd' => getcwd(),
            'umask' => sprintf('%04o', $umask),
            'usr1_handler' => is_object($usr1) ? 'closure' : $usr1,
            'async_signals' => pcntl_async_signals(),
            'blocked_signals' => $mask,
            'handoff' => [
                getenv('HOVER_RESTART_HANDOFF'),
                $_SERVER['HOVER_RESTART_HANDOFF'] ?? null,
                $_ENV['HOVER_RESTART_HANDOFF'] ?? null,
            ],
            'trace_getenv' => getenv('_X_AMZN_TRACE_ID'),
            'trace_server' => $_SERVER['_X_AMZN_TRACE_ID'] ?? null,
            'trace_env' => $_ENV['_X_AMZN_TRACE_ID'] ?? null,
            'memory' => memory_get_usage(true),
        ];
    }

    /**
     * Message attributes as JSON can carry them: keys with their PHP type, binary values as
     * base64 of what PHP holds.
     *
     * @param mixed $attributes
     * @return mixed
     */
    private static function describe($attributes)
    {
        if (!is_array($attributes)) {
            return $attributes;
        }
        $described = [];
        foreach ($attributes as $name => $attribute) {
            $fields = [];
            foreach ((array) $attribute as $field => $value) {
                $fields[$field] = is_string($value) ? ['base64' => base64_encode($value)] : $value;
            }
            $described[] = ['name' => $name, 'name_type' => gettype($name), 'fields' => $fields];
        }

        return $described;
    }
}
