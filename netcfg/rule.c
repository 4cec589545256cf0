/* rule: to be written */
