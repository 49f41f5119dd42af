// The one way every operation runs: a Job reads and checks its named
// arguments on the JS thread (constructor), computes (run, the only part
// allowed off the JS thread), and turns its result into JS values or an
// error (finish).
#pragma once

#include <napi.h>

#include <exception>
#include <memory>
#include <new>
#include <string>
#include <system_error>

#include "../host/backend.h"
#include "args.h"
#include "errors.h"

namespace sm::binding {

// The error of a failure inside run() or finish().
inline PendingError failure_error(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const PendingError& error) {
    return error;
  } catch (const NotImplementedOnBackend& e) {
    return PendingError::make(ErrorKind::kRange, ErrorCode::kCudaUnavailable, e.argument(), e.what());
  } catch (const DeviceError& e) {
    return PendingError::make(ErrorKind::kRange, e.out_of_memory() ? ErrorCode::kCudaOutOfMemory : ErrorCode::kCuda, "",
                              e.what());
  } catch (const std::bad_alloc&) {
    return PendingError::make(ErrorKind::kRange, ErrorCode::kOutOfMemory, "", "sampling-mask: out of memory");
  } catch (const std::system_error& e) {
    // The system refused a resource (a thread, a mapping): as good as out of memory to the caller.
    return PendingError::make(ErrorKind::kRange, ErrorCode::kOutOfMemory, "",
                              std::string("sampling-mask: out of resources: ") + e.what());
  } catch (const std::exception& e) {
    return PendingError::make(ErrorKind::kRange, ErrorCode::kInternal, "", std::string("sampling-mask: ") + e.what());
  } catch (...) {
    return PendingError::make(ErrorKind::kRange, ErrorCode::kInternal, "", "sampling-mask: unknown failure");
  }
}

template <class Job>
PendingError run_guarded(Job& job) {
  try {
    job.run();
  } catch (...) {
    return failure_error(std::current_exception());
  }
  return {};
}

// Runs fn on the JS thread with the same error mapping: a C++ exception
// other than a JS error never escapes to node-addon-api, which would end the
// process (an allocation that fails while reading arguments, say).
template <class Fn>
decltype(auto) on_js_thread(Napi::Env env, const Fn& fn) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw failure_error(std::current_exception()).to_js(env);
  }
}

// A plain callback (no Job), guarded.
template <Napi::Value (*Callback)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return on_js_thread(info.Env(), [&] { return Callback(info); });
}

template <class Job>
Napi::Value run_sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return on_js_thread(env, [&] {
    Job job(CallArgs(info), false);
    PendingError error = run_guarded(job);
    Napi::Value value = error.set ? env.Undefined() : job.finish(env, &error);
    if (error.set) throw error.to_js(env);
    return value;
  });
}

template <class Job>
class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, std::unique_ptr<Job> job)
      : Napi::AsyncWorker(env, "sampling-mask"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { error_ = run_guarded(*job_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Value value = env.Undefined();
    if (!error_.set) {
      try {
        value = job_->finish(env, &error_);
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
        return;
      } catch (...) {
        error_ = failure_error(std::current_exception());
      }
    }
    if (error_.set) {
      deferred_.Reject(error_.to_js(env).Value());
    } else {
      deferred_.Resolve(value);
    }
  }

 private:
  std::unique_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
  PendingError error_;
};

template <class Job>
Napi::Value run_async(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // The job copies its inputs here (an ordinary ArrayBuffer may be detached
  // meanwhile): a copy that cannot be allocated is an error, not an abort.
  auto* worker =
      on_js_thread(env, [&] { return new JobWorker<Job>(env, std::make_unique<Job>(CallArgs(info), true)); });
  worker->Queue();
  return worker->promise();
}

// Exports a Job as `name` (sync) and `nameAsync` (a promise).
template <class Job>
void export_job(Napi::Env env, Napi::Object exports, const std::string& name) {
  exports.Set(name, Napi::Function::New(env, run_sync<Job>, name));
  exports.Set(name + "Async", Napi::Function::New(env, run_async<Job>, name + "Async"));
}

}  // namespace sm::binding
