/* The recorder's per-execution hot path in C: `collector.track(...)`, the tracker's `__enter__`/`__exit__` and the
 * component state they read. smythtop/recorder/hotpath.py says why it exists and how it is chosen; the Python
 * implementation (`PyTrackerBase` in smythtop/recorder/tracker.py) is the reference this file follows step by step, and
 * tests/recorder/test_hotpath.py holds the two to the same decisions.
 *
 * Why C: a Python `with` block whose __enter__/__exit__ only read the clock twice and set/reset a ContextVar already
 * costs about 2.1x the reference loop (two perf_counter_ns and a deque append), before track()'s call or any
 * sampling decision; issue 11 asks <= 2x for a sampled-out execution. Here the same work is C calls with no Python
 * frame: about 1x (bench_recorder, docs/RECORDER.md "Import time and overhead").
 *
 * Linux only: the clock must be the one `time.perf_counter_ns` reads (CLOCK_MONOTONIC in CPython on Linux), since
 * the flush thread mixes these readings with Python's. Elsewhere the build fails on purpose (the extension is
 * optional) and the Python implementation runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <time.h>
#include <unistd.h>

#ifndef __linux__
#error "smythtop.recorder._hotpath: Linux only (the clock must match time.perf_counter_ns); Python is used elsewhere"
#endif

/* Set once by configure(); the module is single-phase and process-wide like the recorder itself. */
static PyObject *g_current;     /* trace.CURRENT, the ContextVar of the current execution */
static PyObject *g_check_burst; /* sampling.check_burst(st, now_ns) */
static PyObject *g_random;      /* NULL: the generator below; else a test's draw (hooks()) */
static PyObject *g_now;         /* NULL: the monotonic clock read here; else a test's clock (hooks()) */
static PyObject *g_noop;        /* tracker.NOOP */
static long g_pid;              /* this process (set_pid() after a fork) */

/* The sampling draw: splitmix64 (Steele, Lea, Flood 2014), seeded from os.urandom at configure() and again in a
 * forked child (set_pid), so parent and child do not draw alike. Calling random.random from C cost about 15 ns an
 * execution of the 0.5 us budget; the draws only need to be uniform and independent of the executions. */
static unsigned long long g_seed;

static double
draw_uniform(void)
{
    unsigned long long z = (g_seed += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53; /* 53 random bits: uniform on [0, 1), as random.random */
}

static int
seed_draws(void)
{
    PyObject *os = PyImport_ImportModule("os");
    PyObject *bytes = os != NULL ? PyObject_CallMethod(os, "urandom", "i", 8) : NULL;
    Py_XDECREF(os);
    if (bytes == NULL)
        return -1;
    memcpy(&g_seed, PyBytes_AS_STRING(bytes), sizeof(g_seed));
    Py_DECREF(bytes);
    return 0;
}

static PyObject *s_span_n;
static PyObject *s_append, *s_error_type, *s_fault, *s_filling, *s_track, *s_tracker, *s_wake_state;

/* The raised exception, normalised, and the error indicator cleared (PyErr_GetRaisedException from 3.12 on). */
static PyObject *
take_exception(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

static int
read_clock(long long *out)
{
    if (g_now == NULL) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *out = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        return 0;
    }
    PyObject *v = PyObject_CallNoArgs(g_now);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* -- ComponentState's hot fields ------------------------------------------------------------------------------ */
typedef struct {
    PyObject_HEAD
    long long n, check_at, tail_n, sampled_out, keep_above;
    Py_ssize_t high_water;
    double rate, tail_rate;
    char thinning, idle, full, excluded;
    PyObject *buf;    /* the collector's ring buffer (a deque) */
    PyObject *append; /* buf.append, bound once when buf is set */
    PyObject *sink;
    PyObject *name;   /* the flush thread's: plain_rows() */
    PyObject *recent; /* deque of (duration ns, weight) */
    long long kept;   /* frames in the current window, counted by the flush thread */
} StateObject;

static int
State_traverse(StateObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->buf);
    Py_VISIT(self->append);
    Py_VISIT(self->sink);
    Py_VISIT(self->name);
    Py_VISIT(self->recent);
    return 0;
}

static int
State_clear(StateObject *self)
{
    Py_CLEAR(self->buf);
    Py_CLEAR(self->append);
    Py_CLEAR(self->sink);
    Py_CLEAR(self->name);
    Py_CLEAR(self->recent);
    return 0;
}

static void
State_dealloc(StateObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    State_clear(self);
    tp->tp_free((PyObject *)self);
}

static PyObject *
State_get_buf(StateObject *self, void *closure)
{
    if (self->buf == NULL) {
        PyErr_SetString(PyExc_AttributeError, "buf");
        return NULL;
    }
    return Py_NewRef(self->buf);
}

static int
State_set_buf(StateObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "buf cannot be deleted");
        return -1;
    }
    PyObject *append = PyObject_GetAttr(value, s_append);
    if (append == NULL)
        return -1;
    Py_XSETREF(self->append, append);
    Py_XSETREF(self->buf, Py_NewRef(value));
    return 0;
}

static PyMemberDef State_members[] = {
    {"n", T_LONGLONG, offsetof(StateObject, n), 0, "executions seen, written by the hot path only"},
    {"check_at", T_LONGLONG, offsetof(StateObject, check_at), 0, "n at which the hot path next checks for a burst"},
    {"tail_n", T_LONGLONG, offsetof(StateObject, tail_n), 0, "executions that were errors or slow"},
    {"sampled_out", T_LONGLONG, offsetof(StateObject, sampled_out), 0, "executions sampled out (total)"},
    {"keep_above", T_LONGLONG, offsetof(StateObject, keep_above), 0, "ns: slower executions are the tail"},
    {"high_water", T_PYSSIZET, offsetof(StateObject, high_water), 0, "buffer length that wakes the flush thread"},
    {"rate", T_DOUBLE, offsetof(StateObject, rate), 0, "keep probability of the other executions"},
    {"tail_rate", T_DOUBLE, offsetof(StateObject, tail_rate), 0, "keep probability of the tail"},
    {"thinning", T_BOOL, offsetof(StateObject, thinning), 0, "rate or tail_rate below 1"},
    {"idle", T_BOOL, offsetof(StateObject, idle), 0, "not adapted by the flush thread until it runs again"},
    {"full", T_BOOL, offsetof(StateObject, full), 0, "track() takes its slow path"},
    {"excluded", T_BOOL, offsetof(StateObject, excluded), 0, "not tracked at all (whitelist, blacklist, rate 0)"},
    {"sink", T_OBJECT_EX, offsetof(StateObject, sink), 0, "the collector's Sink"},
    {"name", T_OBJECT_EX, offsetof(StateObject, name), 0, "the component's name"},
    {"recent", T_OBJECT_EX, offsetof(StateObject, recent), 0, "recent kept (duration ns, weight)"},
    {"kept", T_LONGLONG, offsetof(StateObject, kept), 0, "frames in the current window"},
    {NULL},
};

static PyGetSetDef State_getset[] = {
    {"buf", (getter)State_get_buf, (setter)State_set_buf, "the collector's ring buffer", NULL},
    {NULL},
};

static PyTypeObject State_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smythtop.recorder._hotpath.StateBase",
    .tp_doc = "The hot fields of a ComponentState (sampling.ComponentState adds the rest).",
    .tp_basicsize = sizeof(StateObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)State_dealloc,
    .tp_traverse = (traverseproc)State_traverse,
    .tp_clear = (inquiry)State_clear,
    .tp_members = State_members,
    .tp_getset = State_getset,
};

/* -- the tracker ---------------------------------------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    PyObject *st, *agent_id, *x, *span, *parent, *token, *err, *trace;
    long long start, end;
    double rate;
    long pid;
} TrackerObject;

static int
Tracker_traverse(TrackerObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->st);
    Py_VISIT(self->agent_id);
    Py_VISIT(self->x);
    Py_VISIT(self->span);
    Py_VISIT(self->parent);
    Py_VISIT(self->token);
    Py_VISIT(self->err);
    Py_VISIT(self->trace);
    return 0;
}

static int
Tracker_clear(TrackerObject *self)
{
    Py_CLEAR(self->st);
    Py_CLEAR(self->agent_id);
    Py_CLEAR(self->x);
    Py_CLEAR(self->span);
    Py_CLEAR(self->parent);
    Py_CLEAR(self->token);
    Py_CLEAR(self->err);
    Py_CLEAR(self->trace);
    return 0;
}

static void
Tracker_dealloc(TrackerObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Tracker_clear(self);
    tp->tp_free((PyObject *)self);
}

/* A swallowed error: st.sink.fault("tracker", exc), as the Python implementation's `except Exception`; returns
 * 0, or -1 leaving the error set when it is not an Exception (KeyboardInterrupt, SystemExit: they go on up, as in
 * Python). An error raised by fault itself is dropped: the agent goes on whatever happens here. */
static int
fault(PyObject *st, PyObject *where)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return -1;
    PyObject *exc = take_exception();
    PyObject *sink = st != NULL ? PyObject_GetAttrString(st, "sink") : NULL;
    PyObject *fn = sink != NULL ? PyObject_GetAttr(sink, s_fault) : NULL;
    if (fn != NULL) {
        PyObject *r = PyObject_CallFunctionObjArgs(fn, where, exc != NULL ? exc : Py_None, NULL);
        Py_XDECREF(r);
    }
    PyErr_Clear();
    Py_XDECREF(fn);
    Py_XDECREF(sink);
    Py_XDECREF(exc);
    return 0;
}

/* __exit__'s answer after a failure: False once faulted, NULL for what must go on up. */
static PyObject *
exit_fault(PyObject *st)
{
    if (fault(st, s_tracker) < 0)
        return NULL;
    Py_RETURN_FALSE;
}

/* Call fn(arg) or fn(arg, arg2) holding references to all three, so a callback that reassigns the field they came
 * from (st.sink, st.buf, hooks()) cannot free them mid-call; returns -1 with the error set. */
static int
call_held(PyObject *fn, PyObject *arg, PyObject *arg2)
{
    Py_INCREF(fn);
    Py_INCREF(arg);
    Py_XINCREF(arg2);
    PyObject *r = arg2 != NULL ? PyObject_CallFunctionObjArgs(fn, arg, arg2, NULL) : PyObject_CallOneArg(fn, arg);
    Py_XDECREF(arg2);
    Py_DECREF(arg);
    Py_DECREF(fn);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* A method of st.sink, called with one argument; AttributeError if the state has no sink. */
static int
call_sink(StateObject *st, PyObject *name, PyObject *arg)
{
    if (st->sink == NULL) {
        PyErr_SetString(PyExc_AttributeError, "component state without a sink");
        return -1;
    }
    PyObject *sink = Py_NewRef(st->sink);
    PyObject *fn = PyObject_GetAttr(sink, name);
    Py_DECREF(sink);
    if (fn == NULL)
        return -1;
    int rc = call_held(fn, arg, NULL);
    Py_DECREF(fn);
    return rc;
}

static PyObject *
Tracker_enter(TrackerObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *parent, *token;
    if (g_current == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "smythtop.recorder._hotpath: configure() was not called");
        return NULL;
    }
    if (PyContextVar_Get(g_current, NULL, &parent) < 0)
        return NULL;
    Py_XSETREF(self->parent, parent);
    token = PyContextVar_Set(g_current, (PyObject *)self);
    if (token == NULL)
        return NULL;
    Py_XSETREF(self->token, token);
    self->pid = g_pid;
    if (read_clock(&self->start) < 0)
        return NULL;
    return Py_NewRef(self);
}

/* The keep-or-sample-out decision of an exited tracker (pytracker.PyTracker.__exit__ after the ContextVar reset);
 * returns -1 with an exception set when a callback failed. */
static int
keep(TrackerObject *self, StateObject *st, long long end, PyObject *et)
{
    self->end = end;
    Py_XSETREF(self->err, Py_NewRef(et));
    long long n = st->n + 1;
    st->n = n;
    if (n >= st->check_at) { /* every CHECK executions: meet a burst now, not at the next flush */
        PyObject *now = PyLong_FromLongLong(end);
        if (now == NULL)
            return -1;
        int rc = call_held(g_check_burst, (PyObject *)st, now);
        Py_DECREF(now);
        if (rc < 0)
            return -1;
    }
    if (st->thinning) {
        double rate = st->rate;
        int tail = et != Py_None || end - self->start > st->keep_above;
        if (!tail && self->x != NULL && self->x != Py_None) { /* a failure reported with fail() is kept too */
            tail = PySequence_Contains(self->x, s_error_type);
            if (tail < 0)
                return -1;
        }
        if (tail) {
            st->tail_n += 1;
            rate = st->tail_rate; /* the tail's own cap (sampling rule 7) */
        }
        if (rate < 1.0) {
            double d;
            if (g_random == NULL) {
                d = draw_uniform();
            }
            else {
                PyObject *random = Py_NewRef(g_random);
                PyObject *draw = PyObject_CallNoArgs(random);
                Py_DECREF(random);
                if (draw == NULL)
                    return -1;
                d = PyFloat_AsDouble(draw);
                Py_DECREF(draw);
                if (d == -1.0 && PyErr_Occurred())
                    return -1;
            }
            if (d >= rate) {
                st->sampled_out += 1;
                if (st->idle) { /* the flush thread adapts only the states it knows are running */
                    st->idle = 0;
                    if (call_sink(st, s_wake_state, (PyObject *)st) < 0)
                        return -1;
                }
                return 0;
            }
        }
        self->rate = rate;
    }
    else {
        self->rate = 1.0;
    }
    if (st->buf == NULL || st->append == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "component state without a buffer");
        return -1;
    }
    Py_ssize_t len = PyObject_Length(st->buf);
    if (len < 0)
        return -1;
    if (len >= st->high_water) {
        PyObject *n_obj = PyLong_FromSsize_t(len);
        if (n_obj == NULL)
            return -1;
        int rc = call_sink(st, s_filling, n_obj);
        Py_DECREF(n_obj);
        if (rc < 0)
            return -1;
    }
    return call_held(st->append, (PyObject *)self, NULL);
}

static PyObject *
Tracker_exit(TrackerObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long end;
    if (nargs != 3) { /* as the Python signature __exit__(self, et, ev, tb) */
        PyErr_Format(PyExc_TypeError, "__exit__ takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *et = args[0];
    int clock_failed = read_clock(&end) < 0; /* a test's clock (hooks()); the reset below happens regardless */
    if (clock_failed) {
        if (fault(self->st, s_tracker) < 0)
            return NULL;
    }
    if (g_current == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "smythtop.recorder._hotpath: configure() was not called");
        return exit_fault(self->st);
    }
    /* as CURRENT.reset(self._token) in Python: an unset token (never entered) and None (exited already, or started
     * with begin()) are errors, faulted and not recorded */
    if (self->token == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_token");
        return exit_fault(self->st);
    }
    if (self->token == Py_None) {
        PyErr_SetString(PyExc_TypeError, "the execution was exited already, or started with begin()");
        return exit_fault(self->st);
    }
    if (PyContextVar_Reset(g_current, self->token) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) /* as the Python one: only ValueError is expected */
            return exit_fault(self->st);
        PyErr_Clear(); /* exited in another context than entered (e.g. an async generator) */
        PyObject *tok = PyContextVar_Set(g_current, self->parent != NULL ? self->parent : Py_None);
        if (tok == NULL)
            return exit_fault(self->st);
        Py_DECREF(tok);
    }
    Py_SETREF(self->token, Py_NewRef(Py_None));
    if (clock_failed || self->pid != g_pid) /* entered before a fork: the process that entered it records it */
        Py_RETURN_FALSE;
    if (self->st == NULL || !PyObject_TypeCheck(self->st, &State_Type)) {
        PyErr_SetString(PyExc_TypeError, "tracker without a component state");
        return exit_fault(self->st);
    }
    PyObject *st = Py_NewRef(self->st);
    int rc = keep(self, (StateObject *)st, end, et);
    if (rc < 0 && fault(st, s_tracker) < 0) {
        Py_DECREF(st);
        return NULL;
    }
    Py_DECREF(st);
    Py_RETURN_FALSE;
}

/* A tracker called with no argument enters, with three exits: what its __enter__ and __exit__ bind to (below). */
static PyObject *
Tracker_call(TrackerObject *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "a tracker takes no keyword arguments");
        return NULL;
    }
    if (n == 0)
        return Tracker_enter(self, NULL);
    return Tracker_exit(self, &PyTuple_GET_ITEM(args, 0), n);
}

/* __enter__ and __exit__ of TrackerBase. The `with` statement looks both up on the type and binds them to the
 * instance through the descriptor protocol; a C method's binding allocates a bound-method object (GC-tracked),
 * two per execution, about 30 ns of the 0.5 us budget. These bind to the tracker itself, which is callable as
 * its own __enter__ (no argument) and __exit__ (three). Looked up on the class they are unbound methods,
 * `Tracker.__exit__(t, et, ev, tb)`, as contextlib.ExitStack calls them. */
typedef struct {
    PyObject_HEAD
    int exit;
} SelfMethodObject;

static PyTypeObject Tracker_Type;

static PyObject *
SelfMethod_get(PyObject *self, PyObject *obj, PyObject *type)
{
    return Py_NewRef(obj == NULL || obj == Py_None ? self : obj);
}

static PyObject *
SelfMethod_call(SelfMethodObject *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1 || !PyObject_TypeCheck(PyTuple_GET_ITEM(args, 0), &Tracker_Type) ||
        (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "an unbound tracker method needs a tracker as its first argument");
        return NULL;
    }
    TrackerObject *t = (TrackerObject *)PyTuple_GET_ITEM(args, 0);
    if (!self->exit) {
        if (n != 1) {
            PyErr_SetString(PyExc_TypeError, "__enter__ takes no arguments");
            return NULL;
        }
        return Tracker_enter(t, NULL);
    }
    return Tracker_exit(t, &PyTuple_GET_ITEM(args, 1), n - 1);
}

static PyTypeObject SelfMethod_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smythtop.recorder._hotpath.SelfMethod",
    .tp_doc = "A tracker's __enter__ or __exit__: bound, the tracker itself.",
    .tp_basicsize = sizeof(SelfMethodObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_descr_get = SelfMethod_get,
    .tp_call = (ternaryfunc)SelfMethod_call,
};

static int
add_self_method(const char *name, int exit)
{
    SelfMethodObject *m = PyObject_New(SelfMethodObject, &SelfMethod_Type);
    if (m == NULL)
        return -1;
    m->exit = exit;
    int rc = PyDict_SetItemString(Tracker_Type.tp_dict, name, (PyObject *)m);
    Py_DECREF(m);
    return rc;
}

static PyMemberDef Tracker_members[] = {
    {"_st", T_OBJECT_EX, offsetof(TrackerObject, st), 0, NULL},
    {"agent_id", T_OBJECT_EX, offsetof(TrackerObject, agent_id), 0, NULL},
    {"_x", T_OBJECT_EX, offsetof(TrackerObject, x), 0, NULL},
    {"_span", T_OBJECT_EX, offsetof(TrackerObject, span), 0, NULL},
    {"_parent", T_OBJECT_EX, offsetof(TrackerObject, parent), 0, NULL},
    {"_token", T_OBJECT_EX, offsetof(TrackerObject, token), 0, NULL},
    {"_err", T_OBJECT_EX, offsetof(TrackerObject, err), 0, NULL},
    {"_trace", T_OBJECT_EX, offsetof(TrackerObject, trace), 0, NULL},
    {"_start", T_LONGLONG, offsetof(TrackerObject, start), 0, NULL},
    {"_end", T_LONGLONG, offsetof(TrackerObject, end), 0, NULL},
    {"_rate", T_DOUBLE, offsetof(TrackerObject, rate), 0, NULL},
    {"_pid", T_LONG, offsetof(TrackerObject, pid), 0, NULL},
    {NULL},
};

static PyTypeObject Tracker_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smythtop.recorder._hotpath.TrackerBase",
    .tp_doc = "The fields and the with-protocol of a Tracker (tracker.Tracker adds the rest).",
    .tp_basicsize = sizeof(TrackerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)Tracker_dealloc,
    .tp_traverse = (traverseproc)Tracker_traverse,
    .tp_clear = (inquiry)Tracker_clear,
    .tp_call = (ternaryfunc)Tracker_call,
    .tp_members = Tracker_members,
};

/* -- track() -------------------------------------------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    PyObject *states;       /* the collector's _States (a dict whose __missing__ makes a new name's state) */
    PyObject *track;        /* Collector.track in Python: keyword fields, unusual arguments */
    PyObject *track_with;   /* Collector._track_with(st, agent_id, fields): a state that needs the slow path */
    PyObject *fault;        /* Collector._fault(where, exc) */
    PyTypeObject *tracker;  /* tracker.Tracker, a subclass of TrackerBase */
    PyObject *last_name;    /* the name looked up last (held, so its address cannot be reused) ... */
    PyObject *last_state;   /* ... and its state: a loop over one component skips the dict lookup */
    vectorcallfunc vectorcall;
} TrackObject;

static int
Track_traverse(TrackObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->states);
    Py_VISIT(self->track);
    Py_VISIT(self->track_with);
    Py_VISIT(self->fault);
    Py_VISIT(self->tracker);
    Py_VISIT(self->last_name);
    Py_VISIT(self->last_state);
    return 0;
}

static int
Track_clear(TrackObject *self)
{
    Py_CLEAR(self->states);
    Py_CLEAR(self->track);
    Py_CLEAR(self->track_with);
    Py_CLEAR(self->fault);
    Py_CLEAR(self->tracker);
    Py_CLEAR(self->last_name);
    Py_CLEAR(self->last_state);
    return 0;
}

static void
Track_dealloc(TrackObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Track_clear(self);
    tp->tp_free((PyObject *)self);
}

/* track()'s failure: collector._fault("track", exc) and the no-op tracker, as Python's `except Exception`. */
static PyObject *
track_fault(TrackObject *self)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return NULL;
    PyObject *exc = take_exception();
    PyObject *r = PyObject_CallFunctionObjArgs(self->fault, s_track, exc != NULL ? exc : Py_None, NULL);
    Py_XDECREF(r);
    PyErr_Clear();
    Py_XDECREF(exc);
    return Py_NewRef(g_noop);
}

static PyObject *
Track_vectorcall(TrackObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *agent_id;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs == 2 && nkw == 0)
        agent_id = args[1];
    else if (nargs == 1 && nkw == 0)
        agent_id = Py_None;
    else if (nargs == 1 && nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "agent_id") == 0)
        agent_id = args[1];
    else /* keyword fields, or a call Python must answer (its TypeError included) */
        return PyObject_Vectorcall(self->track, args, nargsf, kwnames);
    PyObject *st;
    if (args[0] == self->last_name && self->last_state != NULL) { /* states are never replaced: the same answer */
        st = Py_NewRef(self->last_state);
    }
    else {
        /* the stored states only: a name past max_components comes back to __missing__ each time (it is counted) */
        st = PyDict_Check(self->states) ? PyDict_GetItemWithError(self->states, args[0]) : NULL;
        if (st != NULL && PyUnicode_CheckExact(args[0])) {
            Py_INCREF(st);
            Py_XSETREF(self->last_name, Py_NewRef(args[0]));
            Py_XSETREF(self->last_state, Py_NewRef(st));
        }
        else {
            PyErr_Clear(); /* an unhashable name: the lookup below raises it again, to be faulted */
            st = PyObject_GetItem(self->states, args[0]);
            if (st == NULL)
                return track_fault(self);
        }
    }
    if (!PyObject_TypeCheck(st, &State_Type)) {
        Py_DECREF(st);
        PyErr_SetString(PyExc_TypeError, "a component state that is not a ComponentState");
        return track_fault(self);
    }
    if (((StateObject *)st)->full) { /* as Collector.track: excluded, an injected clock, memory sampling */
        if (((StateObject *)st)->excluded) {
            Py_DECREF(st);
            return Py_NewRef(g_noop);
        }
        PyObject *fields = PyDict_New();
        PyObject *t = fields != NULL ? PyObject_CallFunctionObjArgs(self->track_with, st, agent_id, fields, NULL) : NULL;
        Py_XDECREF(fields);
        Py_DECREF(st);
        return t != NULL ? t : track_fault(self);
    }
    TrackerObject *t = (TrackerObject *)self->tracker->tp_alloc(self->tracker, 0);
    if (t == NULL) {
        Py_DECREF(st);
        return track_fault(self);
    }
    t->st = st;
    t->agent_id = Py_NewRef(agent_id);
    t->x = Py_NewRef(Py_None);
    t->span = Py_NewRef(Py_None);
    return (PyObject *)t;
}

static PyObject *
Track_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *states, *track, *track_with, *fault_fn, *tracker;
    static char *kwlist[] = {"states", "track", "track_with", "fault", "tracker", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOO!:Track", kwlist, &states, &track, &track_with, &fault_fn,
                                     &PyType_Type, &tracker))
        return NULL;
    if (g_current == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "smythtop.recorder._hotpath: configure() was not called");
        return NULL;
    }
    if (!PyType_IsSubtype((PyTypeObject *)tracker, &Tracker_Type)) {
        PyErr_SetString(PyExc_TypeError, "tracker must subclass TrackerBase");
        return NULL;
    }
    TrackObject *self = (TrackObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->states = Py_NewRef(states);
    self->track = Py_NewRef(track);
    self->track_with = Py_NewRef(track_with);
    self->fault = Py_NewRef(fault_fn);
    self->tracker = (PyTypeObject *)Py_NewRef(tracker);
    self->vectorcall = (vectorcallfunc)Track_vectorcall;
    return (PyObject *)self;
}

static PyTypeObject Track_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smythtop.recorder._hotpath.Track",
    .tp_doc = "Track(states, track, track_with, fault, tracker): a collector's track(component, agent_id=None, **fields).",
    .tp_basicsize = sizeof(TrackObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(TrackObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = Track_new,
    .tp_dealloc = (destructor)Track_dealloc,
    .tp_traverse = (traverseproc)Track_traverse,
    .tp_clear = (inquiry)Track_clear,
};

/* -- the flush thread's plain frames ------------------------------------------------------------------------- */
/* Collector._frames' loop (its docstring says what a plain tracker is and why each check is made), in C: the same
 * steps, item by item from the end of `items`, each item's slot set to None before its frame is built so that a
 * tracker is freed as soon as it is handled and "nobody else holds it" is a reference count of one. A plain,
 * valid tracker becomes a row (`row_type(**fields)`, `kwnames` naming them) appended to `frames`, with its
 * component state's bookkeeping; any other item goes to `general(item)`; an error while building a row goes to
 * `failed(item, exc)`. In Python this loop cost about 1.5 us per frame of the flush thread's 3.5. */
enum {
    R_ITEMS, R_FRAMES, R_GENERAL, R_FAILED, R_ACTIVE, R_TRACKER, R_ROW, R_KWNAMES, R_AGENT, R_AGENT_NAME,
    R_TRACE_PREFIX, R_SPAN_PREFIX, R_COUNTER, R_OFFSET, R_ROWS, R_MAX_NS, R_MAX_ID, R_NARGS
};

/* prefix + digits, both ASCII (the id prefixes are hex): PyUnicode_FromFormat parsed its format per id */
static PyObject *
ascii_concat(PyObject *prefix, const char *digits, Py_ssize_t n)
{
    if (!PyUnicode_IS_ASCII(prefix))
        return PyUnicode_FromFormat("%U%s", prefix, digits);
    Py_ssize_t k = PyUnicode_GET_LENGTH(prefix);
    PyObject *out = PyUnicode_New(k + n, 127);
    if (out == NULL)
        return NULL;
    memcpy(PyUnicode_1BYTE_DATA(out), PyUnicode_1BYTE_DATA(prefix), (size_t)k);
    memcpy(PyUnicode_1BYTE_DATA(out) + k, digits, (size_t)n);
    return out;
}

/* getattr(err, "__name__", None) or str(err), as a new reference */
static PyObject *
error_name(PyObject *err)
{
    PyObject *name = PyObject_GetAttrString(err, "__name__");
    if (name == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return NULL;
        PyErr_Clear();
    }
    else {
        int truthy = PyObject_IsTrue(name);
        if (truthy != 0) {
            if (truthy < 0)
                Py_CLEAR(name);
            return name;
        }
        Py_DECREF(name);
    }
    return PyObject_Str(err);
}

/* 1: a row was added; 0: not a plain valid tracker (the general way); -1: an error is set. Every object read from
 * the tracker or its state is held while Python code (error_name, _span_n, len) could run and reassign it. */
static int
plain_row(PyObject *const *a, TrackerObject *t, long long offset, long long max_ns, Py_ssize_t max_id)
{
    PyObject *span = NULL, *agent = NULL, *name = NULL, *err = NULL, *error_type = NULL, *row = NULL;
    PyObject *values[10] = {NULL};
    StateObject *st = NULL;
    int rc = -1;
    if (t->x == NULL || t->parent == NULL || t->span == NULL || t->agent_id == NULL || t->err == NULL ||
        t->st == NULL) { /* as the Python loop: reading an unset field raises */
        PyErr_SetString(PyExc_AttributeError, "a tracker field is not set");
        return -1;
    }
    if (t->x != Py_None || t->parent != Py_None)
        return 0;
    if (!PyObject_TypeCheck(t->st, &State_Type)) {
        PyErr_SetString(PyExc_TypeError, "a tracker whose _st is not a component state");
        return -1;
    }
    st = (StateObject *)Py_NewRef(t->st);
    if (t->span == Py_None) /* no span id drawn yet: only this loop holds the tracker, or _span_n draws it */
        span = Py_REFCNT(t) == 1 ? PyIter_Next(a[R_COUNTER]) : PyObject_CallMethodNoArgs((PyObject *)t, s_span_n);
    else
        span = Py_NewRef(t->span);
    if (span == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "the span id counter ended");
        goto done;
    }
    agent = Py_NewRef(t->agent_id);
    int truthy = PyObject_IsTrue(agent);
    if (truthy < 0)
        goto done;
    if (!truthy)
        Py_SETREF(agent, Py_NewRef(a[R_AGENT]));
    if (st->name == NULL || st->recent == NULL) {
        PyErr_SetString(PyExc_AttributeError, "a component state without its name or recent durations");
        goto done;
    }
    name = Py_NewRef(st->name);
    long long start = t->start, end = t->end, dur, ts;
    double rate = t->rate;
    err = Py_NewRef(t->err);
    error_type = err == Py_None ? Py_NewRef(Py_None) : error_name(err);
    if (error_type == NULL)
        goto done;
    /* Python's ints do not overflow: a difference or a sum past 64 bits is out of range there too */
    int overflow = __builtin_sub_overflow(end, start, &dur) || __builtin_add_overflow(start, offset, &ts);
    if (overflow || !PyLong_CheckExact(span) /* not frozen as hex before a fork */
        || !PyUnicode_CheckExact(agent) || PyUnicode_GET_LENGTH(agent) < 1 || PyUnicode_GET_LENGTH(agent) > max_id ||
        !PyUnicode_CheckExact(name) || PyUnicode_GET_LENGTH(name) < 1 || PyUnicode_GET_LENGTH(name) > max_id ||
        dur < 0 || dur > max_ns || !(rate > 0.0 && rate <= 1.0)) {
        rc = 0;
        goto done;
    }
    if (error_type != Py_None) { /* last, as in Python's `and` chain */
        Py_ssize_t error_len = PyObject_Length(error_type);
        if (error_len < 0)
            goto done;
        if (error_len > max_id) {
            rc = 0;
            goto done;
        }
    }
    unsigned long long n = PyLong_AsUnsignedLongLong(span); /* as n.to_bytes(8, "big"): an error past 64 bits */
    if (n == (unsigned long long)-1 && PyErr_Occurred())
        goto done;
    char hexed[17];
    snprintf(hexed, sizeof hexed, "%016llx", n); /* IDS.trace_hex's counter half; span_hex's is its end */
    values[0] = PyLong_FromLongLong(ts);
    values[1] = Py_NewRef(agent);
    values[2] = Py_NewRef(name);
    values[3] = PyFloat_FromDouble((double)dur / 1e6); /* dur / NS_PER_MS (1e6): the same rounding as Python's */
    values[4] = PyBool_FromLong(err == Py_None);
    values[5] = Py_NewRef(a[R_AGENT_NAME]);
    values[6] = ascii_concat(a[R_TRACE_PREFIX], hexed, 16);
    values[7] = ascii_concat(a[R_SPAN_PREFIX], hexed + 8, 8);
    values[8] = Py_NewRef(error_type);
    values[9] = PyFloat_FromDouble(rate);
    for (int i = 0; i < 10; i++)
        if (values[i] == NULL)
            goto done;
    row = PyObject_Vectorcall(a[R_ROW], values, 0, a[R_KWNAMES]);
    if (row == NULL || PyList_Append(a[R_FRAMES], row) < 0)
        goto done;
    st->kept += 1;
    st->idle = 0;
    if (PySet_Add(a[R_ACTIVE], (PyObject *)st) < 0)
        goto done;
    PyObject *sample = Py_BuildValue("(Ld)", dur, 1.0 / rate);
    if (sample == NULL)
        goto done;
    PyObject *recent = st->recent != NULL ? Py_NewRef(st->recent) : NULL;
    PyObject *r = recent != NULL ? PyObject_CallMethodOneArg(recent, s_append, sample) : NULL;
    Py_XDECREF(recent);
    Py_DECREF(sample);
    if (r == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "recent");
        goto done;
    }
    Py_DECREF(r);
    rc = 1;
done:
    Py_XDECREF(st);
    Py_XDECREF(span);
    Py_XDECREF(agent);
    Py_XDECREF(name);
    Py_XDECREF(err);
    Py_XDECREF(error_type);
    Py_XDECREF(row);
    for (int i = 0; i < 10; i++)
        Py_XDECREF(values[i]);
    return rc;
}

static PyObject *
plain_rows(PyObject *module, PyObject *const *a, Py_ssize_t nargs)
{
    int ok = nargs == R_NARGS && PyList_CheckExact(a[R_ITEMS]) && PyList_CheckExact(a[R_FRAMES]) &&
             PyUnicode_CheckExact(a[R_TRACE_PREFIX]) && PyUnicode_CheckExact(a[R_SPAN_PREFIX]) &&
             PySet_Check(a[R_ACTIVE]) && PyType_Check(a[R_TRACKER]) &&
             PyType_IsSubtype((PyTypeObject *)a[R_TRACKER], &Tracker_Type) && PyTuple_CheckExact(a[R_KWNAMES]) &&
             PyTuple_GET_SIZE(a[R_KWNAMES]) == 10;
    for (Py_ssize_t k = 0; ok && k < 10; k++)
        ok = PyUnicode_CheckExact(PyTuple_GET_ITEM(a[R_KWNAMES], k));
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "plain_rows: see Collector._frames for its arguments");
        return NULL;
    }
    if (PyUnicode_READY(a[R_TRACE_PREFIX]) < 0 || PyUnicode_READY(a[R_SPAN_PREFIX]) < 0)
        return NULL;
    long long offset = PyLong_AsLongLong(a[R_OFFSET]);
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    long long max_ns = PyLong_AsLongLong(a[R_MAX_NS]);
    if (max_ns == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t max_id = PyLong_AsSsize_t(a[R_MAX_ID]);
    if (max_id == -1 && PyErr_Occurred())
        return NULL;
    int rows = PyObject_IsTrue(a[R_ROWS]);
    if (rows < 0)
        return NULL;
    PyObject *items = a[R_ITEMS]; /* Collector._frames' own list: the callbacks never append to it */
    for (Py_ssize_t i = PyList_GET_SIZE(items) - 1; i >= 0; i--) {
        if (i >= PyList_GET_SIZE(items)) /* a callback shortened the list: nothing of ours to do there */
            continue;
        PyObject *item = Py_NewRef(PyList_GET_ITEM(items, i));
        if (PyList_SetItem(items, i, Py_NewRef(Py_None)) < 0) { /* steals: the list's reference goes */
            Py_DECREF(item);
            return NULL;
        }
        int done = 0;
        if (rows && Py_TYPE(item) == (PyTypeObject *)a[R_TRACKER]) {
            done = plain_row(a, (TrackerObject *)item, offset, max_ns, max_id);
            if (done < 0) {
                if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                    Py_DECREF(item);
                    return NULL;
                }
                PyObject *exc = take_exception();
                PyObject *r = PyObject_CallFunctionObjArgs(a[R_FAILED], item, exc != NULL ? exc : Py_None, NULL);
                Py_XDECREF(exc);
                Py_DECREF(item);
                if (r == NULL)
                    return NULL;
                Py_DECREF(r);
                continue;
            }
        }
        if (!done) {
            PyObject *r = PyObject_CallOneArg(a[R_GENERAL], item);
            if (r == NULL) {
                Py_DECREF(item);
                return NULL;
            }
            Py_DECREF(r);
        }
        Py_DECREF(item);
    }
    if (PyList_SetSlice(items, 0, PyList_GET_SIZE(items), NULL) < 0) /* emptied, as the Python loop leaves it */
        return NULL;
    Py_RETURN_NONE;
}

/* -- module --------------------------------------------------------------------------------------------------- */
static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *current, *check_burst, *noop;
    if (!PyArg_ParseTuple(args, "OOO:configure", &current, &check_burst, &noop))
        return NULL;
    if (!PyContextVar_CheckExact(current)) {
        PyErr_SetString(PyExc_TypeError, "current must be a ContextVar");
        return NULL;
    }
    Py_XSETREF(g_current, Py_NewRef(current));
    Py_XSETREF(g_check_burst, Py_NewRef(check_burst));
    Py_XSETREF(g_noop, Py_NewRef(noop));
    g_pid = (long)getpid();
    if (seed_draws() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
hooks(PyObject *module, PyObject *args)
{
    PyObject *now, *random;
    if (!PyArg_ParseTuple(args, "OO:hooks", &now, &random))
        return NULL;
    Py_XSETREF(g_now, now == Py_None ? NULL : Py_NewRef(now));
    Py_XSETREF(g_random, random == Py_None ? NULL : Py_NewRef(random));
    Py_RETURN_NONE;
}

static PyObject *
set_pid(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    g_pid = (long)getpid();
    if (seed_draws() < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS, "configure(current, check_burst, noop): once, at import."},
    {"hooks", hooks, METH_VARARGS, "hooks(now, random): a test's clock and draw (None: the real clock, the generator)."},
    {"plain_rows", (PyCFunction)(void (*)(void))plain_rows, METH_FASTCALL,
     "plain_rows(items, frames, general, failed, active, Tracker, TrustedRow, kwnames, default_agent, agent_name, "
     "trace_prefix, span_prefix, counter, offset, rows, max_ns, max_id_len): Collector._frames' loop."},
    {"set_pid", set_pid, METH_NOARGS, "Read this process's pid again and reseed the draws (after a fork)."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "smythtop.recorder._hotpath",
    .m_doc = "The recorder's per-execution hot path in C (see smythtop/recorder/hotpath.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__hotpath(void)
{
    if (PyType_Ready(&State_Type) < 0 || PyType_Ready(&SelfMethod_Type) < 0 || PyType_Ready(&Tracker_Type) < 0 ||
        PyType_Ready(&Track_Type) < 0)
        return NULL;
    if (add_self_method("__enter__", 0) < 0 || add_self_method("__exit__", 1) < 0)
        return NULL;
    PyType_Modified(&Tracker_Type);
    s_append = PyUnicode_InternFromString("append");
    s_error_type = PyUnicode_InternFromString("error_type");
    s_fault = PyUnicode_InternFromString("fault");
    s_filling = PyUnicode_InternFromString("filling");
    s_track = PyUnicode_InternFromString("track");
    s_tracker = PyUnicode_InternFromString("tracker");
    s_wake_state = PyUnicode_InternFromString("wake_state");
    s_span_n = PyUnicode_InternFromString("_span_n");
    if (!s_span_n || !s_append || !s_error_type || !s_fault || !s_filling || !s_track || !s_tracker || !s_wake_state)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddType(m, &State_Type) < 0 || PyModule_AddType(m, &Tracker_Type) < 0 ||
        PyModule_AddType(m, &Track_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
