// The one way every operation runs: a Job reads and checks its arguments on
// the JS thread (constructor), computes (run, the only part allowed off the JS
// thread), and turns its result into JS values or an error (finish).
#pragma once

#include <napi.h>

#include <exception>
#include <memory>
#include <new>
#include <string>

#include "../cuda/cuda_backend.h"
#include "errors.h"

namespace sm::binding {

inline PendingError internal_error(const char* what) {
  return {ErrorKind::kRange, "ERR_SM_INTERNAL", "", std::string("sampling-mask: ") + what, -1, -1};
}

template <class Job>
PendingError run_guarded(Job& job) {
  try {
    job.run();
  } catch (const PendingError& error) {
    return error;
  } catch (const cuda::Error& e) {
    return {ErrorKind::kError, e.out_of_memory() ? "ERR_SM_CUDA_OUT_OF_MEMORY" : "ERR_SM_CUDA", "", e.what(), -1, -1};
  } catch (const std::bad_alloc&) {
    return {ErrorKind::kRange, "ERR_SM_OUT_OF_MEMORY", "", "sampling-mask: out of memory", -1, -1};
  } catch (const std::exception& e) {
    return internal_error(e.what());
  }
  return {};
}

template <class Job>
Napi::Value run_sync(const Napi::CallbackInfo& info) {
  Job job(info, false);
  PendingError error = run_guarded(job);
  Napi::Value value = error.set() ? info.Env().Undefined() : job.finish(info.Env(), &error);
  if (error.set()) throw error.to_js(info.Env());
  return value;
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
    if (!error_.set()) {
      try {
        value = job_->finish(env, &error_);
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
        return;
      } catch (const std::bad_alloc&) {
        error_ = {ErrorKind::kRange, "ERR_SM_OUT_OF_MEMORY", "", "sampling-mask: out of memory", -1, -1};
      } catch (const std::exception& e) {
        error_ = internal_error(e.what());
      }
    }
    if (error_.set()) {
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
  auto* worker = new JobWorker<Job>(info.Env(), std::make_unique<Job>(info, true));
  worker->Queue();
  return worker->promise();
}

}  // namespace sm::binding
