<?php

namespace App\Providers;

use App\Support\QueueLog;
use Illuminate\Log\Events\MessageLogged;
use Illuminate\Queue\Events\JobExceptionOccurred;
use Illuminate\Queue\Events\JobFailed;
use Illuminate\Queue\Events\JobProcessed;
use Illuminate\Queue\Events\JobProcessing;
use Illuminate\Queue\Events\Looping;
use Illuminate\Queue\Events\WorkerStopping;
use Illuminate\Support\ServiceProvider;

class AppServiceProvider extends ServiceProvider
{
    /**
     * The queue worker's events the example records, in the order they happen.
     */
    private const QUEUE_EVENTS = [
        Looping::class,
        JobProcessing::class,
        JobProcessed::class,
        JobExceptionOccurred::class,
        JobFailed::class,
        WorkerStopping::class,
    ];

    public function register()
    {
    }

    public function boot()
    {
        // As packages do at boot (a random id, a sampling decision): PHP's Mersenne
        // Twister gets seeded in the process that boots, before any command is forked.
        config(['app.boot_sample' => mt_rand()]);

        if (QueueLog::enabled()) {
            $this->recordQueueEvents();
        }
    }

    /**
     * Records each queue worker event, `{"event": "JobProcessing", "job": "<message id>"}`
     * (`"job": null` for the events of no job), and each log record with the context it was
     * written with, in the example's queue log.
     */
    private function recordQueueEvents(): void
    {
        $events = $this->app['events'];
        foreach (self::QUEUE_EVENTS as $class) {
            $events->listen($class, static function ($event): void {
                $job = property_exists($event, 'job') && $event->job ? $event->job->getJobId() : null;
                QueueLog::append(['event' => class_basename($event), 'job' => $job]);
            });
        }
        $events->listen(MessageLogged::class, static function (MessageLogged $event): void {
            QueueLog::append([
                'event' => 'MessageLogged',
                'job' => null,
                'level' => $event->level,
                'message' => $event->message,
                'context' => array_map(static function ($value) {
                    return is_object($value) ? get_class($value) : $value;
                }, $event->context),
            ]);
        });
    }
}
