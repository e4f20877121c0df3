// libtrace from C++ (trace.hpp): a batch of thumbnails made on a worker thread.
//
//   $ ./thumbnails                      # INFO and above
//   $ TRACE_FILTER=debug ./thumbnails   # with the resize steps
//
// The batch span goes to the worker inside the lambda (a copy of a trace::span is a new
// reference) and is entered there, so the worker's spans and events are inside it; each image
// gets a span for its scope (trace::entered_span, the RAII form of TRACE_SCOPE); fields take
// std::string, std::string_view and enum class values as they are.
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <trace.hpp>
#include <trace/fmt.h>

enum class format { png, jpeg, webp };

struct image {
  std::string path;
  format kind;
  int width;
};

static std::string_view kind_name(format f) {
  switch (f) {
  case format::png:
    return "png";
  case format::jpeg:
    return "jpeg";
  case format::webp:
    break;
  }
  return "webp";
}

// One step, in a span of its own until it returns, however it returns.
static bool resize(const image &img, int width) {
  trace::entered_span step = TRACE_DEBUG_SPAN("resize", TF(from, img.width), TF(to, width));
  if (img.kind == format::webp) {
    TRACE_WARN(TF(format, kind_name(img.kind)), TF(code, img.kind), "no decoder for this format");
    return false;
  }
  TRACE_DEBUG(TF(bytes, width * width * 4), "scaled");
  return true;
}

int main() {
  trace_init_options o;
  trace_init_options_init(&o);
  o.fmt.time = TRACE_FMT_TIME_NONE; // output that reads the same from run to run
  o.fmt.show_thread_names = true;
  if (trace_init_with(&o) != 0)
    return 1;

  const std::vector<image> images = {
      {"cat.png", format::png, 1024}, {"fox.webp", format::webp, 640}, {"owl.jpeg", format::jpeg, 800}};
  trace::span batch = TRACE_INFO_SPAN("batch", TF(images, images.size()), TF(failed, TRACE_EMPTY));

  int failed = 0;
  std::thread worker([batch, &images, &failed] {
    trace_thread_set_name("worker");
    auto entry = batch.enter();
    for (const image &img : images) {
      trace::entered_span job = TRACE_INFO_SPAN("thumbnail", TF(path, img.path));
      if (resize(img, 128))
        TRACE_INFO(TF(to, "thumbs/" + img.path), "written"); // a temporary std::string is fine
      else
        failed++;
    }
  });
  worker.join();

  batch.record("failed", failed);
  batch.in_scope([&] { TRACE_INFO(TF(ok, images.size() - failed), "batch done"); });
  batch.close();
  trace_shutdown();
  return 0;
}
