"""The report factory: labelled synthetic reports in every form real ones take (text, HTML, DOCX, PDF, scan)."""
