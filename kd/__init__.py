"""Knowledge distillation: teacher, linear baseline and SCLC student (to come)."""
