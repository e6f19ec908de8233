"""vqaloop.selection"""
