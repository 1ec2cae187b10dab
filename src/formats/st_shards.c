/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading the files of a sharded safetensors checkpoint on several threads.
 * Each file becomes a part (safetensors.c), read by whichever thread takes
 * it next; parts are merged into the model strictly in the order the files
 * were added, by whichever thread completes the part at the front. So the
 * model, its warnings and the first error are those of reading the files one
 * after another, whatever the threads' timing.
 *
 * Files can be added while others are being read: the index reader adds each
 * shard as it first meets its name. Before that, while the index itself is
 * read from disk, threads may start on guesses: files in the index's folder
 * named like shards. A guess the index then names is merged in its place;
 * one it never names is dropped.
 */
#include "formats/formats_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/strmap.h"
#include "common/util.h"
#include "common/banned.h"

#define MAX_THREADS 8
/* A thread keeps its header buffer between files unless a huge header made
 * it bigger than this. */
#define KEEP_SCRATCH ((size_t)8 << 20)
/* The buffer holds the 8-byte length, the header and a NUL. */
#define SCRATCH_CAP (8 + SL_ST_MAX_HEADER + 1)

struct job {
    char *path;
    char *listed;
    struct sl_st_part part;
    bool taken; /* a thread has read or is reading it */
    bool done;  /* read, or skipped after a failure */
    bool named; /* part of the model: in the merge order */
};

/* What each thread (the caller's included) reads with. */
struct worker {
    struct sl_st_reader *r;
    struct sl_arena arena; /* names and shapes; adopted by the model */
    struct sl_buf scratch;
    pthread_t thread;
    bool started;
};

/* A growable list of jobs. */
struct jobs {
    struct job **v;
    size_t n, cap;
    size_t next; /* no job before this one waits to be taken */
};

/* Two locks, so that a thread entering a part's names in the model does not
 * keep the others from taking their next file. Whoever takes both takes
 * `merge` first. */
struct sl_st_reader {
    struct sl_model *m;
    const char *index_path;
    pthread_mutex_t lock;         /* guards the lists, the job flags and the workers */
    pthread_cond_t wake;          /* a job was added, or the lists were closed */
    struct jobs order;            /* named jobs, in the order they are merged */
    struct jobs guesses;          /* guessed jobs (named ones too), in guessing order */
    struct sl_strmap guess_paths; /* path -> index in `guesses` */
    size_t merged;                /* order.v[0..merged) are merged; moved under both locks */
    bool closed;                  /* no more jobs will be added */
    bool aborted;                 /* merge nothing more */
    bool failed;                  /* the merge has stopped: later files need not be read */
    struct worker workers[MAX_THREADS];
    int nworkers; /* workers[0] is the caller's */
    int max_workers;
    bool eager;            /* the caller is busy adding files: start threads early */
    pthread_mutex_t merge; /* guards the model and mg */
    struct sl_st_merge mg;
};

static int thread_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static struct job *new_job(struct sl_st_reader *r, const char *path)
{
    struct job *j = sl_xcalloc(1, sizeof(*j));

    j->path = sl_xstrdup(path);
    j->part.path = j->path;
    j->part.index_path = r->index_path;
    return j;
}

static void push(struct jobs *l, struct job *j)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = sl_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = j;
}

/* The first job of `l` that no thread has taken, or NULL. Called with the
 * lock held. */
static struct job *untaken(struct jobs *l)
{
    while (l->next < l->n && l->v[l->next]->taken)
        l->next++;
    return l->next < l->n ? l->v[l->next] : NULL;
}

/* The next job to read: named files first, in merge order, so the front of
 * the merge is ready early; guesses only while the index is being read.
 * Called with the lock held. */
static struct job *next_job(struct sl_st_reader *r)
{
    struct job *j = untaken(&r->order);

    if (!j && !r->closed)
        j = untaken(&r->guesses);
    return j;
}

/* Jobs some thread could take now. Called with the lock held. */
static size_t pending(struct sl_st_reader *r)
{
    return (r->order.n - r->order.next) + (r->closed ? 0 : r->guesses.n - r->guesses.next);
}

/* The named job at the front of the merge, if it is done; NULL otherwise. */
static struct job *done_front(struct sl_st_reader *r)
{
    struct job *j = NULL;

    pthread_mutex_lock(&r->lock);
    if (r->merged < r->order.n && r->order.v[r->merged]->done)
        j = r->order.v[r->merged];
    pthread_mutex_unlock(&r->lock);
    return j;
}

/* Merges the finished jobs at the front, in order, unless another thread is
 * doing so; that thread then also merges what finished meanwhile, because
 * after letting go of the merge lock it looks at the front again. */
static void merge_front(struct sl_st_reader *r)
{
    struct job *j;

    while (done_front(r) && pthread_mutex_trylock(&r->merge) == 0) {
        while ((j = done_front(r)) != NULL) {
            bool ok = r->aborted || sl__st_merge_part(r->m, &r->mg, &j->part);
            sl__st_part_release(&j->part);
            pthread_mutex_lock(&r->lock);
            r->merged++;
            r->failed |= !ok;
            pthread_mutex_unlock(&r->lock);
        }
        pthread_mutex_unlock(&r->merge);
    }
}

/* Takes and reads jobs until none is left; with `wait`, also waits for jobs
 * to be added until the lists are closed. */
static void work(struct worker *w, bool wait)
{
    struct sl_st_reader *r = w->r;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        struct job *j = next_job(r);
        bool skip;
        if (!j) {
            if (r->closed || !wait)
                break;
            pthread_cond_wait(&r->wake, &r->lock);
            continue;
        }
        j->taken = true;
        /* After a failure nothing later is merged: do not read it. */
        skip = r->aborted || r->failed;
        pthread_mutex_unlock(&r->lock);
        if (!skip) {
            j->part.arena = &w->arena;
            sl__st_part_read(&j->part, &w->scratch);
            if (w->scratch.alloc > KEEP_SCRATCH)
                sl_buf_release(&w->scratch);
        }
        pthread_mutex_lock(&r->lock);
        j->done = true;
        pthread_mutex_unlock(&r->lock);
        merge_front(r);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
}

static void *worker_main(void *arg)
{
    work(arg, true);
    return NULL;
}

/* Starts threads until there are `want` workers besides the caller, or as
 * many as the machine has processors. Called with the lock held. A thread
 * that cannot start leaves its share to the others. */
static void add_workers(struct sl_st_reader *r, size_t want)
{
    while ((size_t)r->nworkers - 1 < want && r->nworkers < r->max_workers) {
        struct worker *w = &r->workers[r->nworkers++];
        w->r = r;
        sl_buf_init(&w->scratch, SCRATCH_CAP);
        w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
    }
}

struct sl_st_reader *sl__st_reader_start(struct sl_model *m, const char *index_path, bool eager)
{
    struct sl_st_reader *r = sl_xcalloc(1, sizeof(*r));

    r->m = m;
    r->index_path = index_path;
    r->eager = eager;
    r->max_workers = thread_count();
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->merge, NULL);
    pthread_cond_init(&r->wake, NULL);
    sl__st_merge_begin(m, &r->mg);
    /* workers[0] is the caller, who reads files when it finishes. */
    r->workers[0].r = r;
    sl_buf_init(&r->workers[0].scratch, SCRATCH_CAP);
    r->nworkers = 1;
    return r;
}

/* Called with the lock held after adding jobs. */
static void announce(struct sl_st_reader *r)
{
    if (r->eager)
        add_workers(r, pending(r));
    pthread_cond_signal(&r->wake);
}

void sl__st_reader_guess(struct sl_st_reader *r, const char *path)
{
    struct job *j = new_job(r, path);

    pthread_mutex_lock(&r->lock);
    sl_strmap_insert(&r->guess_paths, j->path, strlen(j->path), (uint32_t)r->guesses.n, NULL);
    push(&r->guesses, j);
    announce(r);
    pthread_mutex_unlock(&r->lock);
}

void sl__st_reader_add(struct sl_st_reader *r, const char *path, const char *listed)
{
    struct job *j = NULL;
    uint32_t gi;

    pthread_mutex_lock(&r->lock);
    if (sl_strmap_get(&r->guess_paths, path, strlen(path), &gi) && !r->guesses.v[gi]->named)
        j = r->guesses.v[gi];
    pthread_mutex_unlock(&r->lock);
    if (!j)
        j = new_job(r, path);
    /* The part's `listed` is read only by the merge, which waits for the
     * job to be named below. */
    j->listed = listed ? sl_xstrdup(listed) : NULL;
    pthread_mutex_lock(&r->lock);
    j->part.listed = j->listed;
    j->named = true;
    push(&r->order, j);
    announce(r);
    pthread_mutex_unlock(&r->lock);
}

void sl__st_reader_expect(struct sl_st_reader *r, size_t ntensors)
{
    pthread_mutex_lock(&r->merge);
    if (!r->mg.reserved)
        sl__st_merge_reserve(r->m, &r->mg, ntensors);
    pthread_mutex_unlock(&r->merge);
    /* A part finished meanwhile may have found the merge lock taken and
     * left its merging to the holder: that was us. */
    merge_front(r);
}

/* Closes the lists, reads what is left, joins the threads and hands their
 * arenas to the model. */
static void drain(struct sl_st_reader *r)
{
    pthread_mutex_lock(&r->lock);
    r->closed = true;
    /* The caller reads too now: a lone file needs no thread. */
    if (!r->aborted && pending(r) > 1)
        add_workers(r, pending(r) - 1);
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    work(&r->workers[0], false);
    for (int i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
    }
    /* Every job taken is done now; whoever held the merge lock last merged
     * what was ready, and this merges anything left all the same. */
    merge_front(r);
    for (int i = 0; i < r->nworkers; i++) {
        sl_arena_adopt(&r->m->arena, &r->workers[i].arena);
        sl_buf_release(&r->workers[i].scratch);
    }
}

static void free_jobs(struct jobs *l, bool named)
{
    for (size_t i = 0; i < l->n; i++) {
        struct job *j = l->v[i];
        /* A named guess is in both lists: free it with the named ones. */
        if (j->named != named)
            continue;
        sl__st_part_release(&j->part);
        free(j->path);
        free(j->listed);
        free(j);
    }
    free(l->v);
}

static void reader_free(struct sl_st_reader *r)
{
    free_jobs(&r->guesses, false); /* first: named guesses are still there */
    free_jobs(&r->order, true);
    sl_strmap_release(&r->guess_paths);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->merge);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

enum sl_err sl__st_reader_finish(struct sl_st_reader *r, struct sl_error *err)
{
    enum sl_err rc;

    drain(r);
    rc = sl__st_merge_end(r->m, &r->mg, err);
    reader_free(r);
    return rc;
}

void sl__st_reader_abort(struct sl_st_reader *r)
{
    pthread_mutex_lock(&r->merge);
    pthread_mutex_lock(&r->lock);
    r->aborted = true;
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_unlock(&r->merge);
    drain(r);
    reader_free(r);
}
