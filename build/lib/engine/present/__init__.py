"""What people see: the French formatter, explanations, results.json, workbook, page, and the one writer."""
