#pragma once
// Transparent huge pages for the few big, long-lived arrays of a million-record table (the
// records themselves, the index). With 4 KiB pages, filling 250 MB of records cost one page
// fault per 4 KiB (a quarter of a million-record start-up, bench/README.md), and every lookup
// at random also walked the page table. A hint only: where THP is off, nothing changes.
#include <cstddef>

namespace snibind {

// Advises huge pages for the whole 2 MiB pages inside [data, data + bytes). Call it before the
// memory is first touched: pages already faulted in stay small until khugepaged gets to them.
void advise_huge_pages(const void* data, std::size_t bytes);

}  // namespace snibind
