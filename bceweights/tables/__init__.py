"""Label tables: opening and streaming table files (:mod:`.source`), reading them as labels in one of
three layouts (:mod:`.layout`), and the reader that both CSV/TSV and Parquet use (:mod:`.reader`)."""
